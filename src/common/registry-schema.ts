import { z } from 'zod';
import { validateRepositoryPrefix } from './image-ref';

/**
 * Schema of clusters.yaml (worker side only: paths to credentials, never their content).
 * Lives in common so the CLI can validate a file too; it imports no Node built-ins.
 */
export const ClusterNameSchema = z
  .string()
  .regex(
    /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a cluster name is lowercase letters, digits and dashes (max 63)',
  );

export const SshSettingsSchema = z
  .object({
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'not a valid Unix user name')
      .default('centos'),
    privateKeyPath: z.string().min(1),
    knownHostsPath: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    connectTimeoutMs: z.number().int().positive().default(10_000),
  })
  .strict();

/**
 * Docker Hub login for dockerHubPullSecret: a file on the worker holding either a docker config JSON
 * (`{"auths": {...}}`) or `{"username": "...", "token": "..."}`. Only the path is in the registry.
 */
export const DockerHubSettingsSchema = z
  .object({
    credentialsFile: z.string().min(1),
  })
  .strict();

export const ClusterEntrySchema = z
  .object({
    kubeconfig: z.string().min(1),
    context: z.string().min(1).optional(),
    nodeAddressType: z.enum(['InternalIP', 'ExternalIP', 'Hostname']).default('InternalIP'),
    ssh: SshSettingsSchema.optional(),
    dockerHub: DockerHubSettingsSchema.optional(),
    /**
     * Repository prefixes calicoImageRepair may set on calico's privileged DaemonSet and pre-pull on
     * every node (e.g. `docker.io/calico`, `harbor.example.com/mirror/calico`). Checked inside the
     * activities, so no workflow input can get past it. Unset: only the guide's `docker.io/calico`.
     */
    allowedRegistries: z
      .array(
        z.string().superRefine((v, ctx) => {
          const problem = validateRepositoryPrefix(v.replace(/\/+$/, ''));
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        }),
      )
      .min(1)
      .optional(),
  })
  .strict();

export const RegistryFileSchema = z
  .object({
    clusters: z.record(ClusterNameSchema, ClusterEntrySchema),
  })
  .strict();

export type DockerHubSettings = z.infer<typeof DockerHubSettingsSchema>;
export type SshSettings = z.infer<typeof SshSettingsSchema>;
export type ClusterEntry = z.infer<typeof ClusterEntrySchema>;
export type RegistryFile = z.infer<typeof RegistryFileSchema>;
