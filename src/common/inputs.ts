/**
 * Input schemas common to every procedure, validated at the workflow's edge (and by the CLI before
 * it starts anything). Unknown fields are refused: a misspelt `dryrun` silently ignored would turn a
 * dry run into a real one.
 */
import { z } from 'zod';
import { ClusterNameSchema } from './registry-schema';
import { NODE_NAME_MAX_LENGTH, NODE_NAME_PATTERN } from './shell';

export const BaseRemediationInputSchema = z
  .object({
    cluster: ClusterNameSchema.describe(
      "cluster name in the worker's registry (clusters.yaml); credentials never travel in inputs",
    ),
    dryRun: z.boolean().default(false).describe('compute and return the plan; change nothing'),
    requestedBy: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('who asked for this run; set by nksr and the SDK'),
    requestSignature: z
      .object({ statement: z.string().min(1).max(4096), signature: z.string().min(1).max(200) })
      .strict()
      .optional()
      .describe(
        "the requester's signed statement over this input (nksr run and the SDK add it with your approver key); the worker verifies who asked",
      ),
  })
  .strict();

/** A node named in an input: the same rule the SSH activities apply (validateNodeName). */
/**
 * A whole number in [min, max] with a default: the shape of every count, bound and timeout input
 * (the JSON Schemas in schemas/ are generated from these).
 */
export function boundedInt(min: number, max: number, fallback: number, description: string) {
  return z.number().int().min(min).max(max).default(fallback).describe(description);
}

export const NodeNameSchema = z
  .string()
  .max(NODE_NAME_MAX_LENGTH)
  .regex(NODE_NAME_PATTERN, 'must be a Kubernetes node name');

/** Nodes named in an input, each once (a node twice would be worked on twice). */
export const NodeListSchema = z
  .array(NodeNameSchema)
  .min(1)
  .max(5000)
  .refine((a) => new Set(a).size === a.length, { message: 'a node is named twice' });

/** For procedures that take `nodes` or find them from events: exactly one of the two. */
export function nodesXorFromEvents(input: { nodes?: string[]; fromEvents?: boolean }): boolean {
  return (input.nodes !== undefined) !== (input.fromEvents === true);
}
export const NODES_XOR_FROM_EVENTS = { message: 'give either nodes or fromEvents: true', path: ['nodes'] };

/** The `nodes` / `fromEvents` fields of a node procedure (one or the other: nodesXorFromEvents). */
export function nodeTargetFields(fromEventsMeans: string) {
  return {
    nodes: NodeListSchema.optional().describe('these nodes (give nodes or fromEvents)'),
    fromEvents: z.boolean().default(false).describe(fromEventsMeans),
  };
}

/** Nodes worked on at once, and how many failed nodes stop the start of more. */
export function nodeFanOutFields(defaults: { maxParallel: number; maxFailures: number }) {
  return {
    maxParallel: boundedInt(1, 100, defaults.maxParallel, 'nodes worked on at once'),
    maxFailures: boundedInt(1, 5000, defaults.maxFailures, 'stop starting nodes after this many failed'),
  };
}

export const ClusterPreflightInputSchema = BaseRemediationInputSchema;
export type ClusterPreflightOptions = z.output<typeof ClusterPreflightInputSchema>;

/** One line naming every bad field, e.g. `invalid clusterPreflight input: cluster: required`. */
export function describeInputError(workflowType: string, error: z.ZodError): string {
  const problems = error.issues.map((issue) => {
    const where = issue.path.map(String).join('.') || '(input)';
    let message = issue.message.replace(/^Invalid input: /, '');
    if (issue.code === 'invalid_type' && /received undefined$/.test(message)) {
      message = `required (${message.replace(/, received undefined$/, '')})`;
    }
    if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.join(', ')}`;
    return `${where}: ${message}`;
  });
  return `invalid ${workflowType} input: ${problems.join('; ')}`;
}

export function parseInput<S extends z.ZodType>(
  workflowType: string,
  schema: S,
  raw: unknown,
): { ok: true; value: z.output<S> } | { ok: false; message: string } {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, message: describeInputError(workflowType, parsed.error) };
}
