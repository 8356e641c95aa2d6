/**
 * The files the shared deployment's processes read: the Temporal server's config (PostgreSQL stores,
 * mTLS on the frontend, the JWT permissions claim), its dynamic config, the UI server's config and
 * the Temporal envconfig profiles (one per role) that workers, `nksr`, the SDK and the temporal CLI
 * connect with. Pure functions from a plan to file contents.
 */
import { stringify as toToml } from 'smol-toml';
import { stringify as toYaml } from 'yaml';
import type { Role } from './tokens';

export interface ServerPorts {
  frontendGrpc: number;
  frontendHttp: number;
  frontendMembership: number;
  internalFrontendGrpc: number;
  internalFrontendMembership: number;
  historyGrpc: number;
  historyMembership: number;
  matchingGrpc: number;
  matchingMembership: number;
  workerGrpc: number;
  workerMembership: number;
  metrics: number;
}

export interface ServerConfigInput {
  ports: ServerPorts;
  postgres: { port: number; user: string; password: string };
  tls: { ca: string; cert: string; key: string };
  dynamicConfigFile: string;
}

export const FRONTEND_SERVER_NAME = 'localhost';
export const DATABASES = { default: 'temporal', visibility: 'temporal_visibility' } as const;

export function serverConfigYaml(input: ServerConfigInput): string {
  const { ports, postgres, tls } = input;
  const sql = (databaseName: string) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `127.0.0.1:${postgres.port}`,
      connectProtocol: 'tcp',
      user: postgres.user,
      password: postgres.password,
      maxConns: 20,
      maxIdleConns: 20,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1', ...(httpPort ? { httpPort } : {}) },
  });
  return toYaml({
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: 4,
      datastores: { default: sql(DATABASES.default), visibility: sql(DATABASES.visibility) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      tls: {
        frontend: {
          server: { certFile: tls.cert, keyFile: tls.key, requireClientAuth: true, clientCaFiles: [tls.ca] },
          client: { serverName: FRONTEND_SERVER_NAME, rootCaFiles: [tls.ca] },
        },
      },
      authorization: { permissionsClaimName: 'permissions' },
      metrics: { prometheus: { framework: 'tally', listenAddress: `127.0.0.1:${ports.metrics}` } },
    },
    services: {
      frontend: rpc(ports.frontendGrpc, ports.frontendMembership, ports.frontendHttp),
      'internal-frontend': rpc(ports.internalFrontendGrpc, ports.internalFrontendMembership),
      history: rpc(ports.historyGrpc, ports.historyMembership),
      matching: rpc(ports.matchingGrpc, ports.matchingMembership),
      worker: rpc(ports.workerGrpc, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${ports.frontendGrpc}`,
          httpAddress: `127.0.0.1:${ports.frontendHttp}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    dynamicConfigClient: { filepath: input.dynamicConfigFile, pollInterval: '10s' },
  });
}

/**
 * Registered search attributes are visible at once (not after the cache's minute), and a drained
 * build shows as drained within seconds, so `shared retire` need not wait minutes on loopback.
 */
export function dynamicConfigYaml(): string {
  return toYaml({
    'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true }],
    'matching.wv.VersionDrainageStatusVisibilityGracePeriod': [{ value: '5s' }],
    'matching.wv.VersionDrainageStatusRefreshInterval': [{ value: '5s' }],
    // A retired build's version can be deleted once the server has forgotten its pollers.
    'matching.PollerHistoryTTL': [{ value: '15s' }],
  });
}

export interface UiConfigInput {
  frontendAddress: string;
  port: number;
  namespace: string;
  tls: { ca: string; cert: string; key: string };
}

/** The UI reads and never writes: every action is off, and its certificate carries reader claims only. */
export function uiConfigYaml(input: UiConfigInput): string {
  return toYaml({
    temporalGrpcAddress: input.frontendAddress,
    host: '127.0.0.1',
    port: input.port,
    enableUi: true,
    defaultNamespace: input.namespace,
    disableNewsFetch: true,
    disableWriteActions: true,
    workflowTerminateDisabled: true,
    workflowCancelDisabled: true,
    workflowSignalDisabled: true,
    workflowUpdateDisabled: true,
    workflowResetDisabled: true,
    workflowPauseDisabled: true,
    batchActionsDisabled: true,
    startWorkflowDisabled: true,
    activityCommandsDisabled: true,
    tls: {
      caFile: input.tls.ca,
      certFile: input.tls.cert,
      keyFile: input.tls.key,
      serverName: FRONTEND_SERVER_NAME,
      enableHostVerification: true,
    },
    auth: { enabled: false },
  });
}

export interface ProfileInput {
  address: string;
  namespace: string;
  ca: string;
  /** Per role: its client certificate and its token. */
  roles: Partial<Record<Role, { cert: string; key: string; token: string }>>;
}

/** The Temporal envconfig TOML (TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE=<role>); holds tokens, so 0600. */
export function envconfigToml(input: ProfileInput): string {
  const profile: Record<string, unknown> = {};
  for (const [role, creds] of Object.entries(input.roles)) {
    profile[role] = {
      address: input.address,
      namespace: input.namespace,
      api_key: creds.token,
      tls: {
        client_cert_path: creds.cert,
        client_key_path: creds.key,
        server_ca_cert_path: input.ca,
        server_name: FRONTEND_SERVER_NAME,
      },
    };
  }
  return toToml({ profile });
}
