#!/usr/bin/env bash
# No Docker engine runs here, so this runs the Dockerfile's steps as plain commands: the build stage's
# COPY and RUN lines in a scratch dir, then the runtime stage's command with what that stage copies.
# It proves the image's build works and that the pruned worker starts (and fails cleanly on a missing
# registry file, which is all it can do without a Temporal server and clusters).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build="$work/build" runtime="$work/runtime"
mkdir -p "$build" "$runtime"

stage=0
while IFS= read -r line; do
  case "$line" in
    FROM*) stage=$((stage + 1)) ;;
    COPY\ --from=build*)
      # runtime stage: COPY --from=build /app/SRC DEST
      read -r _ _ src dest <<<"$line"
      cp -a "$build/${src#/app/}" "$runtime/${dest#./}"
      ;;
    COPY*)
      read -r -a parts <<<"${line#COPY }"
      dest=${parts[-1]}
      target=$([[ $stage -eq 1 ]] && echo "$build" || echo "$runtime")
      for src in "${parts[@]:0:${#parts[@]}-1}"; do
        # `COPY a b ./` copies files into WORKDIR; `COPY src ./src` a directory's contents to ./src.
        if [[ $dest == ./ ]]; then
          cp -a "$repo/$src" "$target/"
        else
          mkdir -p "$target/${dest#./}"
          cp -a "$repo/$src/." "$target/${dest#./}"
        fi
      done
      ;;
    RUN*)
      [[ $stage -eq 1 ]] || { echo "unexpected RUN in the runtime stage: $line" >&2; exit 1; }
      echo "+ ${line#RUN }"
      (cd "$build" && bash -euo pipefail -c "${line#RUN }")
      ;;
  esac
done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$repo/Dockerfile")

cmd=$(sed -n 's/^CMD \["node", "\(.*\)"\]$/\1/p' "$repo/Dockerfile")
[[ -f "$runtime/$cmd" ]] || { echo "runtime stage lacks $cmd" >&2; exit 1; }
[[ -f "$runtime/dist/workflow-bundle.js" ]] || { echo "runtime stage lacks the workflow bundle" >&2; exit 1; }
set +e
out=$(cd "$runtime" && NKSR_WORKFLOW_BUNDLE="$runtime/dist/workflow-bundle.js" NKSR_CLUSTERS_FILE=/nonexistent/clusters.yaml \
  NKSR_METRICS_PORT=0 timeout 60 node "$cmd" 2>&1)
rc=$?
set -e
echo "worker from the runtime stage: exit $rc: $out"
[[ $rc -ne 0 && $out == *"/nonexistent/clusters.yaml"* && $out != *"    at "* ]] || {
  echo "expected a one-line error naming the missing registry file" >&2
  exit 1
}
echo "worker image build steps: ok"
