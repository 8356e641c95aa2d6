/**
 * Input schemas common to every procedure, validated at the workflow's edge (and by the CLI before
 * it starts anything). Unknown fields are refused: a misspelt `dryrun` silently ignored would turn a
 * dry run into a real one.
 */
import { z } from 'zod';
import { ClusterNameSchema } from './registry-schema';

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
  })
  .strict();

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
