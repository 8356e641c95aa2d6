# The nks-remediation worker, for a shared deployment (see docker-compose.yml and deploy/).
# Workflow code is bundled at build time so the worker starts without webpack at run time.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY sim ./sim
COPY scripts ./scripts
RUN npm run build && node dist/src/worker/bundle-workflows.js dist/workflow-bundle.js
RUN npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    NKSR_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    NKSR_CLUSTERS_FILE=/etc/nksr/clusters.yaml \
    NKSR_METRICS_PORT=9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 9464
CMD ["node", "dist/src/worker/main.js"]
