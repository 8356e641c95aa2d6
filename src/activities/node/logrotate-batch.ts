/**
 * logrotateSync's node work in batches: one activity reads or installs on many nodes, so a
 * 5,000-node run's history holds a few hundred events instead of eight per node, and the config
 * travels by its sha256, not its text (./logrotate-config-store.ts). A batch heartbeats what each
 * node's work gave, so a retried batch (a lost worker) does only the nodes still missing.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import {
  KUBELET_LOG_ROTATION_DEFAULTS,
  KUBELET_CONFIG_PATHS,
  type LogrotateInspection,
  type LogrotateInstallation,
  type LogrotateTarget,
} from '../../common/procedures/logrotate-sync';
import { mapBounded } from '../../common/bounded';
import { validateRemotePath } from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { requireLogrotateConfigAllowed } from '../policy';
import { HEARTBEAT_EVERY_MS, type NodeCall, onNode } from './context';
import { allowedNodeFile, checkFile, installFile, readFileState } from './files';
import { logrotateConfigByDigest } from './logrotate-config-store';

/** A node's error as one bounded line: its type and the first line of its message. */
function nodeError(err: unknown): string {
  const type = err instanceof ApplicationFailure ? err.type : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return `${type ? `${type}: ` : ''}${message.split('\n')[0]}`.slice(0, 300);
}

/** Failures a new attempt on the same node could fix (a connection refused, a timeout). */
const transient = (err: unknown) => !(err instanceof ApplicationFailure && err.nonRetryable);
/** Attempts per node inside a batch: REMOTE_COMMAND's retries (2 s, 4 s, 8 s between them). */
const NODE_ATTEMPTS = 4;

async function withNodeRetries<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= NODE_ATTEMPTS || !transient(err) || activitySignal()?.aborted) throw err;
      await new Promise((r) => setTimeout(r, 2000 * 2 ** (attempt - 1)));
    }
  }
}

function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` on every node, `maxInFlight` at once, skipping those an earlier attempt of this
 * activity already did (its heartbeat details), heartbeating every result as it comes.
 * `stop(done)`: no further node starts (the failure budget), the rest get `notStarted(node)`.
 */
async function batch<T extends { node: string }>(
  nodes: readonly string[],
  maxInFlight: number,
  work: (node: string, details: () => unknown) => Promise<T>,
  opts: { stop?: (done: readonly T[]) => boolean; notStarted?: (node: string) => T } = {},
): Promise<T[]> {
  const ctx = Context.current();
  const previous = (ctx.info.heartbeatDetails as { done?: Record<string, T> } | undefined)?.done ?? {};
  const done: Record<string, T> = {};
  for (const n of nodes) if (previous[n]) done[n] = previous[n];
  const details = () => ({ done });
  // Also while a node's connection is being set up (commands heartbeat only once they run).
  const timer = setInterval(() => ctx.heartbeat(details()), HEARTBEAT_EVERY_MS);
  try {
    const results = await mapBounded(nodes, Math.max(1, Math.floor(maxInFlight)), async (node) => {
      if (done[node]) return done[node];
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure('batch cancelled');
      if (opts.stop?.(Object.values(done))) return opts.notStarted!(node);
      const r = await work(node, details);
      done[node] = r;
      ctx.heartbeat(details());
      return r;
    });
    // A node whose command the cancellation aborted is not a failure of that node.
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('batch cancelled');
    return results;
  } finally {
    clearInterval(timer);
  }
}

// Prints the first kubelet config readable of $@ ("file PATH" and its two log-rotation lines), or "none".
const KUBELET_CONFIG_SCRIPT = `for f in "$@"; do
  if [ -f "$f" ] && [ -r "$f" ]; then
    echo "file $f"
    grep -E '^[[:space:]]*(containerLogMaxSize|containerLogMaxFiles):' -- "$f" || true
    exit 0
  fi
done
echo none`;

/** kubelet's own rotation of container logs on a node, from its config file or kubelet's defaults. */
async function readKubeletLogRotation(
  call: NodeCall,
): Promise<Omit<LogrotateInspection & { kind: 'kubelet' }, 'node'>> {
  const r = await call.scriptOk(KUBELET_CONFIG_SCRIPT, [...KUBELET_CONFIG_PATHS], {
    sudo: true,
    operation: 'read the kubelet config',
    timeoutMs: 60_000,
  });
  const lines = r.stdout.split('\n').map((l) => l.trim());
  const file = lines[0]?.startsWith('file ') ? lines[0].slice(5) : undefined;
  const value = (key: string, valid: RegExp) => {
    const line = lines.find((l) => l.startsWith(`${key}:`));
    const v = line
      ?.slice(key.length + 1)
      .trim()
      .replace(/^["']|["']$/g, '');
    return v !== undefined && valid.test(v) ? v : undefined;
  };
  const size = value('containerLogMaxSize', /^[0-9]+(Ki|Mi|Gi|K|M|G)?$/);
  const files = value('containerLogMaxFiles', /^[0-9]{1,6}$/);
  return {
    kind: 'kubelet',
    containerLogMaxSize: size ?? KUBELET_LOG_ROTATION_DEFAULTS.containerLogMaxSize,
    containerLogMaxFiles:
      files !== undefined ? Number(files) : KUBELET_LOG_ROTATION_DEFAULTS.containerLogMaxFiles,
    source: file
      ? size || files
        ? file
        : `${file} (sets neither: kubelet's defaults)`
      : "kubelet's defaults",
  };
}

export interface InspectLogrotateNodesInput {
  cluster: string;
  path: string;
  nodes: LogrotateTarget[];
  maxInFlight: number;
}

export interface InstallLogrotateConfigInput {
  cluster: string;
  path: string;
  /** The admitted config's sha256 (admitLogrotateConfig): its text is found by it in the worker. */
  sha256: string;
  nodes: string[];
  maxInFlight: number;
  /** No node starts once this many of the batch failed (what is left of the run's budget). */
  failureBudget: number;
}

export function createLogrotateBatchActivities(deps: ActivityDeps) {
  const admitted = async (cluster: string, sha256: unknown): Promise<string> => {
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))
      throw ApplicationFailure.nonRetryable('sha256 must be a sha256 hex digest', ErrorType.InvalidInput);
    const content = await logrotateConfigByDigest(sha256);
    requireLogrotateConfigAllowed(cluster, deps.registry.get(cluster), content);
    return content;
  };
  return {
    /**
     * Per node of a batch: on a docker node the hashes of `path` (or that it is absent); on a
     * containerd node kubelet's container-log rotation (containerLogMaxSize / containerLogMaxFiles
     * from its config file, or kubelet's defaults). A node that cannot be read is reported, the
     * others go on. Idempotency: read-only; a retry redoes only the nodes not yet heartbeated.
     */
    async inspectLogrotateNodes(
      input: InspectLogrotateNodesInput,
    ): Promise<{ nodes: LogrotateInspection[] }> {
      const path = validateRemotePath(input?.path);
      const runtimeOf = new Map(input.nodes.map((t) => [t.node, t.runtime]));
      const nodes = await batch<LogrotateInspection>(
        input.nodes.map((t) => t.node),
        input.maxInFlight,
        async (node, details) => {
          const ref = { cluster: input.cluster, node };
          try {
            return await withNodeRetries(() =>
              onNode(
                deps,
                ref,
                async (call): Promise<LogrotateInspection> => {
                  if (runtimeOf.get(node) === 'containerd')
                    return { node, ...(await readKubeletLogRotation(call)) };
                  const s = await readFileState(call, path, true);
                  return s
                    ? { node, kind: 'hashed', exists: true, sha256: s.sha256, md5: s.md5 }
                    : { node, kind: 'hashed', exists: false };
                },
                details,
              ),
            );
          } catch (err) {
            if (runtimeOf.get(node) === 'containerd') {
              const { containerLogMaxSize, containerLogMaxFiles } = KUBELET_LOG_ROTATION_DEFAULTS;
              const why = `kubelet's defaults: its config not read (${nodeError(err)})`;
              return { node, kind: 'kubelet', containerLogMaxSize, containerLogMaxFiles, source: why };
            }
            return { node, kind: 'failed', error: nodeError(err) };
          }
        },
      );
      return { nodes };
    },

    /**
     * The admitted config (by its sha256) checked with `logrotate -d` on a temp copy on one node,
     * which is removed after; the target file is never touched. Safe to retry.
     */
    async checkLogrotateConfig(input: {
      cluster: string;
      node: string;
      path: string;
      sha256: string;
    }): Promise<{ accepted: boolean; output: string }> {
      const path = allowedNodeFile(input?.path, 'logrotate');
      const content = await admitted(input.cluster, input.sha256);
      const r = await onNode(deps, input, (call) =>
        checkFile(call, { ...input, path, content, validator: 'logrotate' }),
      );
      return { accepted: r.accepted, output: r.output };
    },

    /**
     * installNodeFile's install (checked by logrotate on the node, atomic, 0644 root:root, the old
     * file kept as a backup, verified by hash) on each node of a batch, the config found by its
     * sha256. Idempotency: check-then-act per node (a node that already has it is `unchanged`), and a
     * retried batch skips the nodes its earlier attempt heartbeated.
     */
    async installLogrotateConfig(
      input: InstallLogrotateConfigInput,
    ): Promise<{ nodes: LogrotateInstallation[] }> {
      const path = allowedNodeFile(input?.path, 'logrotate');
      const content = await admitted(input.cluster, input.sha256);
      const budget = Math.max(1, Math.floor(input.failureBudget));
      const nodes = await batch<LogrotateInstallation>(
        input.nodes,
        input.maxInFlight,
        async (node, details) => {
          const ref = { cluster: input.cluster, node };
          try {
            const r = await withNodeRetries(() =>
              onNode(
                deps,
                ref,
                (call) =>
                  installFile(call, {
                    ...ref,
                    path,
                    content,
                    mode: '0644',
                    owner: 'root:root',
                    validator: 'logrotate',
                  }),
                details,
              ),
            );
            if (r.sha256 !== input.sha256)
              return { node, status: 'failed', error: `installed sha256 ${r.sha256} differs` };
            return {
              node,
              status: r.status,
              ...(r.previous?.existed ? { backupPath: r.previous.backupPath } : {}),
            };
          } catch (err) {
            return { node, status: 'failed', error: nodeError(err) };
          }
        },
        {
          stop: (done) => done.filter((d) => d.status === 'failed').length >= budget,
          notStarted: (node) => ({ node, status: 'not-started' }),
        },
      );
      return { nodes };
    },
  };
}
