/**
 * The control-plane components of a simulator instance as restartable units: the command line of
 * each (one definition, used by `up` and by the `fault stop|start|restart <component>` hooks), and
 * the stop/start operations that keep <dir>/state.json's PIDs current, so every other command still
 * finds the instance after a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CoordinationV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import {
  CLUSTER_NAME,
  CONTEXT_NAME,
  KWOK_NODE_ANNOTATION,
  KWOK_NODE_ANNOTATION_VALUE,
  POD_CIDR,
  SERVICE_CIDR,
} from './config';
import { apiserverGet } from './kube';
import { pkiPaths } from './pki';
import {
  SimError,
  describeExit,
  type StartedProcess,
  isRunning,
  sleep,
  startDetached,
  stopAll,
  tail,
  waitFor,
} from './process';
import { type SimState, readState, writeState } from './state';

/** Names the fault hooks accept, and the process each stands for. */
export const COMPONENTS = {
  etcd: 'etcd',
  'kube-apiserver': 'kube-apiserver',
  'controller-manager': 'kube-controller-manager',
  scheduler: 'kube-scheduler',
  kwok: 'kwok',
} as const;
export type Component = keyof typeof COMPONENTS;

/**
 * How long the node lifecycle controller waits for a kubelet's lease or status before it marks the
 * node Unknown (and its pods not Ready). Kubernetes' default is 50 s; the simulator shortens it so a
 * dead node shows within seconds, and shortens kwok's lease (renewed every quarter of it) to match.
 */
export const NODE_MONITOR_GRACE_SECONDS = 12;
export const NODE_LEASE_SECONDS = 16;
/** Holder of a node's Lease while its "kubelet" is stopped (kwok leaves a lease held by another alone). */
export const KUBELET_STOPPED_HOLDER = 'sim.nksr.io/kubelet-stopped';

export interface ComponentCommand {
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/** The command line of a component of the instance described by `state`. */
/** The API server's audit log: one JSON event per line, requests of ServiceAccounts only. */
export function auditLogPath(dir: string): string {
  return path.join(dir, 'logs', 'kube-apiserver-audit.log');
}

/** The audit policy `up` writes before the API server first starts (restarts reuse it). */
export function auditPolicyPath(dir: string): string {
  return path.join(dir, 'audit-policy.yaml');
}

export function componentCommand(state: SimState, processName: string): ComponentCommand {
  const pki = pkiPaths(state.dir);
  const { etcdClient, etcdPeer, apiserver: apiserverPort, kwok: kwokPort } = state.ports;
  const kubeconfig = `--kubeconfig=${state.kubeconfigPath}`;
  switch (processName) {
    case 'etcd':
      return {
        args: [
          '--name=sim',
          `--data-dir=${path.join(state.dir, 'etcd')}`,
          `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
          `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
          `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
          `--initial-cluster=sim=http://127.0.0.1:${etcdPeer}`,
          // Ignored by etcd once the data dir exists, so a restart keeps the cluster's data.
          '--initial-cluster-state=new',
          // A throw-away test cluster: durability is not worth the fsync latency on a shared disk.
          '--unsafe-no-fsync',
          '--quota-backend-bytes=2147483648',
          '--auto-compaction-retention=1',
          '--log-level=warn',
        ],
      };
    case 'kube-apiserver':
      return {
        args: [
          `--audit-policy-file=${auditPolicyPath(state.dir)}`,
          `--audit-log-path=${auditLogPath(state.dir)}`,
          '--audit-log-format=json',
          '--audit-log-maxsize=100',
          `--etcd-servers=http://127.0.0.1:${etcdClient}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiserverPort}`,
          `--tls-cert-file=${pki.serverCert}`,
          `--tls-private-key-file=${pki.serverKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--service-account-key-file=${pki.saPub}`,
          `--service-account-signing-key-file=${pki.saKey}`,
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--authorization-mode=Node,RBAC',
          '--allow-privileged=true',
          '--enable-priority-and-fairness=false',
          '--profiling=false',
          '--event-ttl=1h',
          '--v=0',
        ],
      };
    case 'kube-controller-manager':
      return {
        args: [
          kubeconfig,
          '--leader-elect=false',
          '--secure-port=0',
          `--root-ca-file=${pki.caCert}`,
          `--service-account-private-key-file=${pki.saKey}`,
          `--cluster-name=${CLUSTER_NAME}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--kube-api-qps=200',
          '--kube-api-burst=400',
          `--node-monitor-grace-period=${NODE_MONITOR_GRACE_SECONDS}s`,
          '--node-monitor-period=2s',
          '--v=0',
        ],
      };
    case 'kube-scheduler':
      return {
        args: [
          kubeconfig,
          '--leader-elect=false',
          '--secure-port=0',
          '--kube-api-qps=200',
          '--kube-api-burst=400',
          '--v=0',
        ],
      };
    case 'kwok': {
      const home = path.join(state.dir, 'kwok-home');
      fs.mkdirSync(home, { recursive: true });
      return {
        args: [
          kubeconfig,
          '--manage-all-nodes=false',
          `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=${KWOK_NODE_ANNOTATION_VALUE}`,
          '--enable-crds=Stage',
          `--cidr=${POD_CIDR}`,
          '--node-ip=127.0.0.1',
          `--server-address=127.0.0.1:${kwokPort}`,
          `--node-lease-duration-seconds=${NODE_LEASE_SECONDS}`,
        ],
        // kwok also reads ~/.kwok/kwok.yaml; a private HOME keeps a user's file (with Stages) out.
        env: { ...process.env, HOME: home },
      };
    }
    default:
      throw new SimError(`unknown simulator component ${processName}`);
  }
}

export function componentArg(value: string): Component {
  if (!(value in COMPONENTS)) {
    throw new SimError(
      `unknown component ${JSON.stringify(value)} (one of: ${Object.keys(COMPONENTS).join(', ')})`,
    );
  }
  return value as Component;
}

function upState(dir: string): SimState {
  const s = readState(dir);
  if (!s?.readyAt) throw new SimError(`the simulator in ${dir} is not up (npm run sim -- up)`);
  return s;
}

function findProcess(state: SimState, processName: string): StartedProcess {
  const p = state.processes.find((x) => x.name === processName);
  if (!p) throw new SimError(`no ${processName} process recorded in ${state.dir}/state.json`);
  return p;
}

/** Stops one component (SIGTERM, SIGKILL after `graceMs`). Idempotent: a stopped one stays stopped. */
export async function stopComponent(dir: string, component: Component, graceMs = 10_000): Promise<boolean> {
  const state = upState(dir);
  const p = findProcess(state, COMPONENTS[component]);
  if (!isRunning(p)) return false;
  const left = await stopAll([p], graceMs);
  if (left.length) throw new SimError(`could not stop ${component} (pid ${p.pid})`);
  return true;
}

function coordination(state: SimState): CoordinationV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfigPath);
  kc.setCurrentContext(CONTEXT_NAME);
  return kc.makeApiClient(CoordinationV1Api);
}

/**
 * A stopped kwok's node leases name its identity (hostname + a random ID per process) and would keep
 * a new kwok read-only on those nodes until they expire; a restarted kubelet keeps its identity, so
 * the simulator drops them (but not those of nodes whose kubelet is stopped on purpose). Best effort:
 * with the API server down the new kwok simply waits for the leases to expire.
 */
async function releaseDeadKwokLeases(state: SimState): Promise<void> {
  const api = coordination(state);
  const names = new Set(state.nodes.map((n) => n.name));
  try {
    const leases = await api.listNamespacedLease({ namespace: 'kube-node-lease' });
    for (const l of leases.items) {
      if (!names.has(l.metadata?.name ?? '') || l.spec?.holderIdentity === KUBELET_STOPPED_HOLDER) continue;
      await api
        .deleteNamespacedLease({ name: l.metadata!.name!, namespace: 'kube-node-lease' })
        .catch(() => undefined);
    }
  } catch {
    /* see above */
  }
}

/**
 * Starts a stopped component with the command line `up` gave it and waits until it serves (etcd
 * healthy, API server ready, the others still alive after a moment). Records the new PID in
 * state.json. Idempotent: a running component is left alone (returns false).
 */
export async function startComponent(
  dir: string,
  component: Component,
  timeoutMs = 90_000,
): Promise<boolean> {
  const state = upState(dir);
  const name = COMPONENTS[component];
  const old = findProcess(state, name);
  if (isRunning(old)) return false;
  if (name === 'kwok') await releaseDeadKwokLeases(state);
  const cmd = componentCommand(state, name);
  const p = startDetached({ name, binary: old.binary, args: cmd.args, env: cmd.env, log: old.log });
  // Re-read: another hook may have written the state meanwhile (faults); only the PID changes here.
  const fresh = readState(dir) ?? state;
  writeState({ ...fresh, processes: fresh.processes.map((x) => (x.name === name ? p : x)) });
  const alive = () => {
    if (!isRunning(p))
      throw new SimError(`${component} exited after its restart (${describeExit(p.pid)}):\n${tail(p.log)}`);
  };
  if (name === 'etcd') {
    await waitFor(
      'etcd to be healthy',
      async () => {
        alive();
        const res = await fetch(`http://127.0.0.1:${state.ports.etcdClient}/health`).catch(() => undefined);
        return res?.ok ? true : undefined;
      },
      { timeoutMs, intervalMs: 100, onTimeout: () => tail(p.log) },
    );
  } else if (name === 'kube-apiserver') {
    await waitFor(
      'kube-apiserver to be ready',
      async () => {
        alive();
        return (await apiserverGet(state.apiserverUrl, pkiPaths(dir), '/readyz')) === 200 ? true : undefined;
      },
      { timeoutMs, intervalMs: 200, onTimeout: () => tail(p.log) },
    );
  } else {
    await sleep(1000);
    alive();
  }
  return true;
}

/** Stop then start; `downMs` is how long the component stays down in between, `graceMs` 0 kills at once. */
export async function restartComponent(
  dir: string,
  component: Component,
  opts: { downMs?: number; graceMs?: number } = {},
): Promise<void> {
  await stopComponent(dir, component, opts.graceMs);
  if (opts.downMs) await sleep(opts.downMs);
  await startComponent(dir, component);
}

/**
 * A node whose kubelet stopped (a dead or unreachable node, as opposed to `node-ready false`, a
 * kubelet that reports NotReady): the simulator holds the node's Lease, so kwok stops renewing it,
 * stops posting the node's status and stops playing its existing pods (a pod created there
 * meanwhile may still be started: a known limit). After NODE_MONITOR_GRACE_SECONDS the
 * node lifecycle controller marks the node Unknown, its pods not Ready, and taints it unreachable.
 * `down: false` deletes that lease; kwok takes the node back and plays it (and its pods) again.
 * Idempotent both ways.
 */
export async function setKubeletStopped(dir: string, node: string, down: boolean): Promise<void> {
  const state = upState(dir);
  if (!state.nodes.some((n) => n.name === node)) {
    throw new SimError(
      `no node ${node} in this simulator (nodes: ${state.nodes.map((n) => n.name).join(', ')})`,
    );
  }
  const api = coordination(state);
  const namespace = 'kube-node-lease';
  if (!down) {
    const lease = await api.readNamespacedLease({ name: node, namespace }).catch(() => undefined);
    if (lease?.spec?.holderIdentity === KUBELET_STOPPED_HOLDER)
      await api.deleteNamespacedLease({ name: node, namespace });
    return;
  }
  const spec = {
    holderIdentity: KUBELET_STOPPED_HOLDER,
    leaseDurationSeconds: 24 * 3600,
    renewTime: new V1MicroTime(),
  };
  for (let attempt = 0; ; attempt++) {
    const lease = await api.readNamespacedLease({ name: node, namespace }).catch(() => undefined);
    try {
      if (!lease) {
        await api.createNamespacedLease({ namespace, body: { metadata: { name: node, namespace }, spec } });
      } else if (lease.spec?.holderIdentity !== KUBELET_STOPPED_HOLDER) {
        // Replace, keeping resourceVersion: a concurrent kwok renewal makes this a 409, and we retry.
        await api.replaceNamespacedLease({
          name: node,
          namespace,
          body: { ...lease, spec: { ...lease.spec, ...spec } },
        });
      }
      return;
    } catch (e) {
      if (attempt >= 5) throw new SimError(`could not take node ${node}'s lease: ${(e as Error).message}`);
      await sleep(200);
    }
  }
}
