/**
 * The cluster registry (clusters.yaml): cluster name → where the worker finds that cluster's
 * credentials. Only paths are held here, never their content, and only the name ever leaves the
 * worker.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { ClusterRegistry } from '../activities/deps';
import { ErrorType } from '../common/errors';
import { ALL_PROCEDURES, findProcedure } from '../common/procedures';
import {
  type Approver,
  type ClusterEntry,
  type ClusterPolicy,
  type RegistryFile,
  RegistryFileSchema,
} from '../common/registry-schema';

/** A clusters.yaml that cannot be used. Its message names the file and, when known, the field. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly type = ErrorType.RegistryInvalid;
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
  }
}

/** How the file is named in messages: relative to the working directory when inside it. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.') || '(top level)';
}

/** zod's messages start with "Invalid input: "; the field path already says where. */
function formatIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  let message = issue.message.replace(/^Invalid input: /, '');
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  }
  if (
    issue.code === 'invalid_type' &&
    message.startsWith('expected') &&
    /received undefined$/.test(message)
  ) {
    message = `required (${message.replace(/, received undefined$/, '')})`;
  }
  return `${where}: ${message}`;
}

/** Parses and validates registry text; `file` is used for messages and to resolve relative paths. */
export function parseRegistry(text: string, file: string): Map<string, ClusterEntry> {
  return parseRegistryFile(text, file).clusters;
}

/** The clusters (relative paths resolved) and the approvers of a clusters.yaml text. */
export function parseRegistryFile(
  text: string,
  file: string,
): { clusters: Map<string, ClusterEntry>; approvers: Approver[] } {
  const shown = displayPath(file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (doc.errors.length > 0) {
    throw new RegistryError(
      shown,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        const firstLine = e.message.split('\n')[0] ?? e.message;
        return `line ${pos.line}, column ${pos.col}: ${firstLine}`;
      }),
    );
  }
  const parsed = RegistryFileSchema.safeParse(doc.toJS() ?? {});
  if (!parsed.success) throw new RegistryError(shown, parsed.error.issues.map(formatIssue));
  const unknown = unknownProcedures(parsed.data);
  if (unknown.length) throw new RegistryError(shown, unknown);
  return { clusters: resolvePaths(parsed.data, dirname(resolve(file))), approvers: parsed.data.approvers };
}

/** `procedures:` names that are no procedure: a typo would otherwise disable it without a word. */
function unknownProcedures(data: RegistryFile): string[] {
  const problems: string[] = [];
  for (const [cluster, entry] of Object.entries(data.clusters))
    for (const [i, name] of (entry.procedures ?? []).entries())
      if (!findProcedure(name))
        problems.push(
          `clusters.${cluster}.procedures.${i}: no procedure ${JSON.stringify(name)} (known: ${ALL_PROCEDURES.map((p) => p.cliName).join(', ')})`,
        );
  return problems;
}

/** Relative credential paths mean "next to clusters.yaml", not "wherever the worker was started". */
function resolvePaths(data: RegistryFile, baseDir: string): Map<string, ClusterEntry> {
  const clusters = new Map<string, ClusterEntry>();
  for (const [name, entry] of Object.entries(data.clusters)) {
    clusters.set(name, {
      ...entry,
      kubeconfig: resolve(baseDir, entry.kubeconfig),
      ssh: entry.ssh && {
        ...entry.ssh,
        privateKeyPath: resolve(baseDir, entry.ssh.privateKeyPath),
        knownHostsPath: resolve(baseDir, entry.ssh.knownHostsPath),
      },
      dockerHub: entry.dockerHub && { credentialsFile: resolve(baseDir, entry.dockerHub.credentialsFile) },
      policy: entry.policy && resolvePolicyPaths(entry.policy, baseDir),
      procedures: entry.procedures?.map((name) => findProcedure(name)!.workflowType),
    });
  }
  return clusters;
}

function resolvePolicyPaths(policy: ClusterPolicy, baseDir: string): ClusterPolicy {
  const configs = policy.logrotateSync?.configs;
  if (!configs) return policy;
  return {
    ...policy,
    logrotateSync: {
      ...policy.logrotateSync,
      configs: configs.map((c) => ('file' in c ? { ...c, file: resolve(baseDir, c.file) } : c)),
    },
  };
}

export class FileClusterRegistry implements ClusterRegistry {
  constructor(
    private readonly clusters: Map<string, ClusterEntry>,
    readonly source: string,
    private readonly approverList: readonly Approver[] = [],
  ) {}

  approvers(): readonly Approver[] {
    return this.approverList;
  }

  get(name: string): ClusterEntry {
    const entry = this.clusters.get(name);
    if (!entry) {
      const known = this.names();
      throw ApplicationFailure.nonRetryable(
        `unknown cluster "${name}": the worker's registry (${this.source}) has ${
          known.length ? known.map((n) => `"${n}"`).join(', ') : 'no clusters'
        }`,
        ErrorType.UnknownCluster,
        { cluster: name, knownClusters: known },
      );
    }
    return entry;
  }

  names(): string[] {
    return [...this.clusters.keys()].sort();
  }
}

export function loadClusterRegistry(file: string): FileClusterRegistry {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : String(code ?? err);
    throw new RegistryError(displayPath(absolute), [
      `${why} (set NKSR_CLUSTERS_FILE, or run \`npm run sim -- up\` to get .sim/clusters.yaml)`,
    ]);
  }
  const { clusters, approvers } = parseRegistryFile(text, absolute);
  return new FileClusterRegistry(clusters, displayPath(absolute), approvers);
}

/** For tests and embedding: a registry from entries already in memory (paths must be absolute). */
export function registryFromEntries(
  entries: Record<string, ClusterEntry>,
  source = 'in-memory',
  approvers: readonly Approver[] = [],
): FileClusterRegistry {
  return new FileClusterRegistry(new Map(Object.entries(entries)), source, approvers);
}
