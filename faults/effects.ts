/**
 * Side effects of a run, counted from outside the product: the Kubernetes API's watch (calico's
 * pre-pull pods and workload patches) and the SSH nodes' stand-ins (reboots from the supervisor's
 * reboots.log, grub2-mkconfig calls from each node's calls.log, file installs from inotify on the
 * node directories the stand-ins bind-mount). A duplicate is the same effect twice on the same
 * object: a pod name created twice, a node rebooted twice, a file installed twice.
 */
import { type FSWatcher, existsSync, readFileSync, statSync, watch } from 'node:fs';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  Watch,
  type V1DaemonSet,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { nodePaths, simPaths } from '../sim/nodes/layout';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What every procedure's counter offers the suite. */
export interface SideEffectCounter {
  start(): Promise<void>;
  stop(): void;
  /** Every side effect so far, in order (for "kill right after the k-th"). */
  readonly total: number;
  onSideEffect(fn: (total: number) => void): void;
  /** Named counts for the table ("pods 12", "reboots 2"). */
  counts(): Record<string, number>;
  /** One line per object that saw the same effect more than once. */
  duplicates(): string[];
}

abstract class Counter {
  total = 0;
  private listeners: ((total: number) => void)[] = [];
  onSideEffect(fn: (total: number) => void): void {
    this.listeners.push(fn);
  }
  protected bump(): void {
    this.total += 1;
    for (const l of this.listeners) l(this.total);
  }
}

export const CALICO_NS = 'kube-system';
export const PREPULL_SELECTOR = 'nksr.io/purpose=calico-prepull';
export const CALICO_WORKLOADS = [
  ['daemonsets', 'calico-node'],
  ['deployments', 'calico-typha'],
  ['deployments', 'calico-kube-controllers'],
] as const;

/**
 * Pre-pull pods created (per name) and spec changes of the calico workloads (metadata.generation
 * bumps), from the API server's watch. A watch that ends (API server restart) resumes from the last
 * resourceVersion it saw, or lists afresh when that version is gone, so nothing is missed.
 */
export class CalicoWatch extends Counter implements SideEffectCounter {
  podCreations = new Map<string, number>();
  patches = 0;
  private generations = new Map<string, number>();
  private aborts: AbortController[] = [];
  private stopped = false;

  constructor(private readonly kc: KubeConfig) {
    super();
  }

  async start(): Promise<void> {
    const apps = this.kc.makeApiClient(AppsV1Api);
    const core = this.kc.makeApiClient(CoreV1Api);
    const NS = CALICO_NS;
    const onPod = (pod: V1Pod) => {
      const name = pod.metadata!.name!;
      this.podCreations.set(name, (this.podCreations.get(name) ?? 0) + 1);
      this.bump();
    };
    const onWorkload = (w: V1DaemonSet | V1Deployment) => {
      const name = w.metadata?.name ?? '';
      const seen = this.generations.get(name);
      const gen = w.metadata?.generation ?? 0;
      if (seen !== undefined && gen > seen) {
        this.patches += gen - seen;
        this.generations.set(name, gen);
        this.bump();
      }
    };
    for (const [, name] of CALICO_WORKLOADS) {
      const w =
        name === 'calico-node'
          ? await apps.readNamespacedDaemonSet({ name, namespace: NS })
          : await apps.readNamespacedDeployment({ name, namespace: NS });
      this.generations.set(name, w.metadata?.generation ?? 0);
    }
    const listPods = async () => {
      const list = await core.listNamespacedPod({ namespace: NS, labelSelector: PREPULL_SELECTOR });
      return { rv: list.metadata?.resourceVersion, items: list.items };
    };
    const first = await listPods();
    // A resync after a lost watch: what appeared meanwhile counts once (a pod created and deleted
    // while the watch was down would be missed, but nothing is created while the API server is).
    this.follow(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: PREPULL_SELECTOR },
      first.rv,
      (type, obj) => {
        if (type === 'ADDED') onPod(obj as V1Pod);
      },
      async () => {
        const now = await listPods();
        for (const p of now.items) if (!this.podCreations.has(p.metadata!.name!)) onPod(p);
        return now.rv;
      },
    );
    for (const kind of ['daemonsets', 'deployments'] as const) {
      const list = async () => {
        const l =
          kind === 'daemonsets'
            ? await apps.listNamespacedDaemonSet({ namespace: NS })
            : await apps.listNamespacedDeployment({ namespace: NS });
        return { rv: l.metadata?.resourceVersion, items: l.items as (V1DaemonSet | V1Deployment)[] };
      };
      const l0 = await list();
      this.follow(
        `/apis/apps/v1/namespaces/${NS}/${kind}`,
        {},
        l0.rv,
        (_type, obj) => onWorkload(obj as V1DaemonSet | V1Deployment),
        async () => {
          const now = await list();
          now.items.forEach(onWorkload);
          return now.rv;
        },
      );
    }
  }

  /**
   * Follows a watch from `resourceVersion`, reopening it when it ends. When the API server no longer
   * has that version (410 Gone after its restart) or the watch fails, `resync` lists afresh, accounts
   * for what changed meanwhile, and gives the version to go on from.
   */
  private follow(
    path: string,
    query: Record<string, string>,
    resourceVersion: string | undefined,
    onObject: (type: string, obj: unknown) => void,
    resync: () => Promise<string | undefined>,
  ): void {
    let rv = resourceVersion;
    let stale = false;
    const open = async (): Promise<void> => {
      while (!this.stopped) {
        try {
          if (stale) {
            rv = await resync();
            stale = false;
          }
          await new Promise<void>((resolve) => {
            new Watch(this.kc)
              .watch(
                path,
                { ...query, ...(rv ? { resourceVersion: rv } : {}) },
                (type: string, obj: { metadata?: { resourceVersion?: string } }) => {
                  if (type === 'ERROR') {
                    stale = true;
                    return;
                  }
                  if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
                  if (type === 'ADDED' || type === 'MODIFIED') onObject(type, obj);
                },
                (err: unknown) => {
                  if (err) stale = true;
                  resolve();
                },
              )
              .then(
                (abort) => this.aborts.push(abort),
                () => {
                  stale = true;
                  resolve();
                },
              );
          });
        } catch {
          stale = true;
        }
        if (!this.stopped) await sleep(500);
      }
    };
    void open();
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aborts) a.abort();
  }

  counts(): Record<string, number> {
    return { pods: this.podCreations.size, patches: this.patches };
  }

  duplicates(): string[] {
    return [...this.podCreations]
      .filter(([, n]) => n > 1)
      .map(([name, n]) => `pod ${name} created ${n} times`);
  }
}

/** A file on an SSH node whose installs are counted: its directory on the host and its name. */
export interface WatchedFile {
  label: string;
  dir: (paths: ReturnType<typeof nodePaths>) => string;
  name: string;
}

/**
 * Reboots (reboots.log `down` lines), grub2-mkconfig calls that write (-o, calls.log) and file installs (an
 * installed file is renamed into place: inotify's moved-to on its name) per SSH node. The logs are
 * append-only and read from the byte offset they had at start, so nothing before the run counts.
 */
export class NodeEffects extends Counter implements SideEffectCounter {
  readonly reboots = new Map<string, number>();
  readonly mkconfigs = new Map<string, number>();
  readonly installs = new Map<string, number>();
  private offsets = new Map<string, number>();
  private watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly dir: string,
    private readonly nodes: string[],
    private readonly files: WatchedFile[],
  ) {
    super();
  }

  private size(file: string): number {
    return existsSync(file) ? statSync(file).size : 0;
  }

  /** New lines of an append-only log since the last read. */
  private newLines(file: string): string[] {
    const from = this.offsets.get(file) ?? 0;
    const size = this.size(file);
    if (size <= from) return [];
    const text = readFileSync(file).subarray(from, size).toString('utf8');
    const end = text.lastIndexOf('\n') + 1;
    this.offsets.set(file, from + end);
    return text.slice(0, end).split('\n').filter(Boolean);
  }

  private add(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
    this.bump();
  }

  start(): Promise<void> {
    const rebootsLog = simPaths(this.dir).rebootsLog;
    this.offsets.set(rebootsLog, this.size(rebootsLog));
    for (const node of this.nodes) {
      const p = nodePaths(this.dir, node);
      this.offsets.set(p.callsLog, this.size(p.callsLog));
      for (const f of this.files) {
        const w = watch(f.dir(p), (event, name) => {
          if (event === 'rename' && name === f.name && existsSync(`${f.dir(p)}/${f.name}`))
            this.add(this.installs, `${node} ${f.label}`);
        });
        this.watchers.push(w);
      }
    }
    const poll = () => {
      for (const l of this.newLines(rebootsLog)) {
        const [, node, what] = l.split(' ');
        if (what === 'down' && node) this.add(this.reboots, node);
      }
      for (const node of this.nodes)
        for (const l of this.newLines(nodePaths(this.dir, node).callsLog))
          // Only a call that writes a file is a side effect (without -o it renders to stdout).
          if (/ grub2-mkconfig .*(?:-o|--output)/.test(l)) this.add(this.mkconfigs, node);
    };
    this.timer = setInterval(poll, 200);
    return Promise.resolve();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const w of this.watchers) w.close();
  }

  counts(): Record<string, number> {
    const sum = (m: Map<string, number>) => [...m.values()].reduce((s, n) => s + n, 0);
    return {
      reboots: sum(this.reboots),
      installs: sum(this.installs),
      'grub2-mkconfig': sum(this.mkconfigs),
    };
  }

  duplicates(): string[] {
    const out: string[] = [];
    for (const [node, n] of this.reboots) if (n > 1) out.push(`${node} rebooted ${n} times`);
    for (const [node, n] of this.mkconfigs) if (n > 1) out.push(`${node} grub2-mkconfig ran ${n} times`);
    for (const [what, n] of this.installs) if (n > 1) out.push(`${what} installed ${n} times`);
    return out;
  }
}
