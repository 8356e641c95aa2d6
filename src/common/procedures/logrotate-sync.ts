/**
 * Registry entry, input schema and report of logrotateSync (docs/procedures.md §1): the guide's
 * `/etc/logrotate.d/docker` on every node, checked by logrotate on the node before it is installed,
 * installed atomically with a backup, verified by hash; run daily by a Temporal Schedule
 * (`nksr schedule create logrotate-sync`) instead of the guide's cron job.
 */
import { ClusterLockInputSchema } from '../cluster-lock';
import { z } from 'zod';
import { ApprovalInputSchema } from '../approval';
import { BaseRemediationInputSchema, boundedInt, NodeListSchema } from '../inputs';
import { countOutcomes, failuresFirst, outcomeLine } from '../report';
import { defineProcedure, SSH_NODES } from './define';

/**
 * The guide's config (its first code block, `bench/guide/docker_logrotate_config`), byte for byte as
 * `cat > /etc/logrotate.d/docker <<EOF` writes it.
 */
export const GUIDE_DOCKER_LOGROTATE_CONFIG = `/var/lib/docker/containers/*/*.log {
    rotate 10
    copytruncate
    missingok
    notifempty
    compress
    maxsize 100M
    daily
    dateext
    dateformat -%Y%m%d-%s
    create 0644 root root
}
`;

export const LOGROTATE_SYNC_DEFAULTS = {
  path: '/etc/logrotate.d/docker',
  maxParallel: 10,
  maxFailures: 10,
  batchSize: 100,
} as const;

/**
 * kubelet's own rotation of container logs when its config sets none (its documented defaults): on
 * containerd nodes (Kubernetes ≥ 1.24, no dockershim) kubelet rotates container logs itself and
 * /var/lib/docker/containers holds nothing a docker logrotate config could match.
 */
export const KUBELET_LOG_ROTATION_DEFAULTS = {
  containerLogMaxSize: '10Mi',
  containerLogMaxFiles: 5,
} as const;

/** Where a node's kubelet config is looked for (read-only), in this order. */
export const KUBELET_CONFIG_PATHS = [
  '/var/lib/kubelet/config.yaml',
  '/etc/kubernetes/kubelet-config.yaml',
] as const;

/**
 * Whether the guide's docker logrotate config applies to a node, from its
 * node.status.nodeInfo.containerRuntimeVersion: not on containerd (kubelet rotates container logs).
 */
export function kubeletRotatesContainerLogs(containerRuntimeVersion: string): boolean {
  return containerRuntimeVersion.startsWith('containerd://');
}

/** A node a batch reads: its file's hashes (docker) or kubelet's log rotation (containerd). */
export interface LogrotateTarget {
  node: string;
  runtime: 'docker' | 'containerd';
}

/** What a batch read on one node. */
export type LogrotateInspection =
  | { node: string; kind: 'hashed'; exists: false }
  | { node: string; kind: 'hashed'; exists: true; sha256: string; md5: string }
  | {
      node: string;
      kind: 'kubelet';
      containerLogMaxSize: string;
      containerLogMaxFiles: number;
      /** The kubelet config file the values came from, or why they are kubelet's defaults. */
      source: string;
    }
  | { node: string; kind: 'failed'; error: string };

/** What a batch's install did on one node. */
export type LogrotateInstallation =
  | { node: string; status: 'installed' | 'unchanged'; backupPath?: string }
  | { node: string; status: 'failed'; error: string }
  | { node: string; status: 'not-started' };

/** The reason a containerd node is left alone, with kubelet's values. */
export function notApplicableReason(k: Extract<LogrotateInspection, { kind: 'kubelet' }>): string {
  return `not applicable: kubelet rotates container logs (containerLogMaxSize ${k.containerLogMaxSize}, containerLogMaxFiles ${k.containerLogMaxFiles}; ${k.source})`;
}

/** Config files are small; this also keeps workflow history small. */
export const MAX_LOGROTATE_CONFIG_BYTES = 64 * 1024;

/**
 * A file directly in /etc/logrotate.d: a name of letters, digits, `.`, `_`, `-`, not starting with
 * `.` or `-` (no traversal, no hidden file, nothing a shell or a command line could read as syntax or
 * an option).
 */
export const LogrotatePathSchema = z
  .string()
  .max(255)
  .regex(
    /^\/etc\/logrotate\.d\/[A-Za-z0-9_][A-Za-z0-9._-]*$/,
    'must be a file directly in /etc/logrotate.d/ (letters, digits, . _ -; not starting with . or -)',
  );

export const LogrotateSyncInputSchema = BaseRemediationInputSchema.extend({
  ...ClusterLockInputSchema.shape,
  content: z
    .string()
    .min(1)
    .refine((s) => new TextEncoder().encode(s).length <= MAX_LOGROTATE_CONFIG_BYTES, {
      message: `at most ${MAX_LOGROTATE_CONFIG_BYTES} bytes`,
    })
    .refine((s) => !s.includes('\0'), { message: 'must not contain NUL' })
    .default(GUIDE_DOCKER_LOGROTATE_CONFIG)
    .describe("the logrotate config to install (default: the guide's docker_logrotate_config)"),
  path: LogrotatePathSchema.default(LOGROTATE_SYNC_DEFAULTS.path).describe(
    'where it goes on each node (a file directly in /etc/logrotate.d/)',
  ),
  nodes: NodeListSchema.optional().describe('only these nodes (default: every Ready node)'),
  ...ApprovalInputSchema.shape,
  maxParallel: boundedInt(1, 200, LOGROTATE_SYNC_DEFAULTS.maxParallel, 'nodes worked on at once over SSH'),
  maxFailures: boundedInt(
    1,
    5000,
    LOGROTATE_SYNC_DEFAULTS.maxFailures,
    'stop starting installs after this many nodes failed to install',
  ),
  batchSize: boundedInt(
    1,
    200,
    LOGROTATE_SYNC_DEFAULTS.batchSize,
    'nodes per activity (one history entry reads or installs on this many nodes)',
  ),
}).strict();

export type LogrotateSyncInput = z.input<typeof LogrotateSyncInputSchema>;
export type LogrotateSyncOptions = z.output<typeof LogrotateSyncInputSchema>;

export type LogrotateNodeOutcome =
  /** Already had the wanted content: nothing written. */
  | 'in-sync'
  /** Installed and verified. */
  | 'synced'
  /** Dry run: would be installed. */
  | 'would-sync'
  /** Could not be read, checked or installed. */
  | 'failed'
  /** The failure budget was spent before its turn. */
  | 'not-started'
  /** NotReady or unknown: not touched. */
  | 'skipped'
  /** A containerd node: kubelet rotates its container logs; nothing installed. */
  | 'not-applicable';

export interface LogrotateNodeEntry {
  node: string;
  outcome: LogrotateNodeOutcome;
  /** What the node had before: absent, or its hashes. */
  before?: { exists: false } | { exists: true; sha256: string; md5: string };
  /** After a sync: the installed file's sha256 (equal to the wanted one). */
  sha256?: string;
  /** After a sync: where the replaced file was kept (absent when there was none). */
  backupPath?: string;
  /** Failure type and message, why the node was skipped, or (not-applicable) kubelet's rotation. */
  reason?: string;
}

export interface LogrotateSyncResult {
  cluster: string;
  path: string;
  dryRun: boolean;
  /**
   * complete: every node has the config (or would, in a dry run); partial: some nodes failed or were
   * skipped; refused: logrotate rejected the config and no node was changed; approval-expired: no
   * decision came in time and no node was changed.
   */
  outcome: 'complete' | 'partial' | 'refused' | 'approval-expired';
  /** Who approved the installs, when the run waited for approval. */
  approvedBy?: string;
  /** sha256 and md5 of the wanted content. */
  sha256: string;
  md5: string;
  /** The check of the config by `logrotate -d` on one node, before any node changed. */
  check?: { node: string; accepted: boolean; output: string };
  counts: Record<LogrotateNodeOutcome, number>;
  /**
   * Failing nodes first, then changed, not-applicable and in-sync ones, at most MAX_LISTED_NODES (a
   * 5,000-node run's result stays one small payload); `counts` has every node.
   */
  nodes: LogrotateNodeEntry[];
  /** Nodes left out of `nodes`. */
  omitted: number;
  summary: string;
}

const FAILING = new Set<LogrotateNodeOutcome>(['failed', 'not-started', 'skipped']);

export const logrotateSyncProcedure = defineProcedure({
  workflowType: 'logrotateSync',
  cliName: 'logrotate-sync',
  description:
    'container logs filling worker disks: installs the logrotate config (checked by logrotate) on docker nodes that differ',
  guide: 'docs/procedures.md §1',
  inputSchema: LogrotateSyncInputSchema,
  mutates: true,
  usesSsh: true,
  permissions: [SSH_NODES],
  report: (r: LogrotateSyncResult) => ({
    summary: outcomeLine(r),
    tables: [
      failuresFirst(
        `nodes (${countOutcomes(r.nodes.map((n) => n.outcome))}${r.omitted ? `, ${r.omitted} more not listed` : ''})`,
        ['NODE', 'OUTCOME', 'BEFORE (md5)', 'BACKUP / REASON'],
        r.nodes,
        (n) => FAILING.has(n.outcome),
        (n) => [
          n.node,
          n.outcome,
          !n.before ? '-' : n.before.exists ? n.before.md5 : 'absent',
          n.reason ?? n.backupPath ?? '',
        ],
      ),
      ...(r.check && !r.check.accepted
        ? [
            {
              title: `logrotate -d on ${r.check.node} (a temp copy of the config)`,
              columns: ['OUTPUT'],
              rows: r.check.output
                .split('\n')
                .filter((l) => l.trim() !== '')
                .slice(-15)
                .map((l) => [l]),
            },
          ]
        : []),
    ],
    next: [
      ...(r.outcome === 'refused'
        ? [`logrotate rejected the config on ${r.check?.node}: fix it (see the check output) and rerun`]
        : []),
      ...(r.outcome !== 'refused' && (r.counts.failed || r.counts['not-started'])
        ? [
            'nodes that failed or did not start: check sshd and the known_hosts, then rerun (it does only what differs)',
          ]
        : []),
      ...(r.dryRun && r.counts['would-sync'] ? ['run again without --dry-run to install'] : []),
    ],
  }),
});
