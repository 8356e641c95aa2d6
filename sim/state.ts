/**
 * <dir>/state.json: what `up` started and chose (ports, PIDs, nodes, faults), read by `down`,
 * `status`, the fault hooks and loadSim(). Written atomically (rename) so a reader never sees half.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SimError } from './process';

export const ImageFaultSchema = z
  .object({
    /** RE2 regular expression, searched (not anchored) in the image reference as written in the pod spec. */
    pattern: z.string().min(1),
    /** Only pods on this node fail; all nodes when absent. */
    node: z.string().min(1).optional(),
    /** Waiting message of ErrImagePull; `{image}` is replaced by the image reference. */
    message: z.string().min(1).optional(),
    /**
     * Only pods whose spec lists no image pull secret fail (Docker Hub's anonymous rate limit);
     * the secret's existence and content are not checked.
     */
    anonymousOnly: z.boolean().optional(),
  })
  .strict();
export type ImageFault = z.infer<typeof ImageFaultSchema>;

const ProcessSchema = z.object({
  name: z.string(),
  pid: z.number().int(),
  binary: z.string(),
  log: z.string(),
});

const SshSchema = z.object({
  privateKeyPath: z.string(),
  knownHostsPath: z.string(),
  user: z.string(),
  port: z.number().int(),
  nodes: z.array(z.string()),
});

export const SimStateSchema = z.object({
  version: z.literal(1),
  dir: z.string(),
  ipPrefix: z.string(),
  binDir: z.string(),
  /** Set once every node is Ready; absent while `up` is still running or after it failed. */
  readyAt: z.string().optional(),
  startedAt: z.string(),
  upSeconds: z.number().optional(),
  /** Seconds per phase of `up` (binaries, pki, etcd, apiserver, stages, nodes-created, fixtures, ready, total). */
  upTimings: z.record(z.string(), z.number()).optional(),
  ports: z.object({ etcdClient: z.number(), etcdPeer: z.number(), apiserver: z.number(), kwok: z.number() }),
  apiserverUrl: z.string(),
  kubeconfigPath: z.string(),
  clustersPath: z.string(),
  processes: z.array(ProcessSchema),
  nodes: z.array(z.object({ name: z.string(), ip: z.string(), runtime: z.string() })),
  ssh: SshSchema.optional(),
  faults: z.object({
    generation: z.number().int(),
    images: z.array(ImageFaultSchema),
    /** The nodes the applied stages treat as lacking their sandbox image (sim/nodes/sandbox.ts). */
    sandbox: z
      .array(z.object({ node: z.string(), runtime: z.enum(['containerd', 'docker']), image: z.string() }))
      .default([]),
  }),
});
export type SimState = z.infer<typeof SimStateSchema>;

function statePath(dir: string): string {
  return path.join(dir, 'state.json');
}

export function readState(dir: string): SimState | undefined {
  const file = statePath(dir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new SimError(`${file} is not valid JSON; remove the directory ${dir} to start over`);
  }
  const parsed = SimStateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SimError(`${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export function writeState(state: SimState): void {
  const file = statePath(state.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}
