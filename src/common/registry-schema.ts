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
 * Docker Hub login for dockerHubPullSecret and calicoImageRepair's docker.io pre-pulls: a file on
 * the worker holding either a docker config JSON
 * (`{"auths": {...}}`) or `{"username": "...", "token": "..."}`. Only the path is in the registry.
 */
export const DockerHubSettingsSchema = z
  .object({
    credentialsFile: z.string().min(1),
  })
  .strict();

const RepositoryPrefixListSchema = z
  .array(
    z.string().superRefine((v, ctx) => {
      const problem = validateRepositoryPrefix(v.replace(/\/+$/, ''));
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  )
  .min(1);

/** `team-a`, or `team-*` for every namespace starting with `team-`. */
const NamespacePatternSchema = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$|^[a-z0-9][-a-z0-9]{0,61}\*$/,
    'a namespace name, or a prefix ending in * (e.g. team-*)',
  );

/** A logrotate config logrotateSync may install: by sha256 of its bytes, or a file on the worker. */
const LogrotateConfigPolicySchema = z.union([
  z
    .object({
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in lowercase hex'),
      /** prerotate/postrotate/firstaction/lastaction/preremove scripts and include: refused unless true. */
      allowScripts: z.boolean().default(false),
    })
    .strict(),
  z.object({ file: z.string().min(1), allowScripts: z.boolean().default(false) }).strict(),
]);

/**
 * What a cluster's runs may do, decided on the worker: no workflow input widens it. Activities check
 * it before any SSH login or API write. Every field has the guide's narrow default.
 */
const ApprovalModeSchema = z.enum(['required', 'when-risky', 'on-request']);

export const PolicySchema = z
  .object({
    /**
     * Two people: whoever approves a run must be another listed approver than the one who signed
     * its request (nksr run signs it); a run with an unsigned request cannot be approved then.
     */
    approverOtherThanRequester: z.boolean().optional(),
    /** Per procedure: when its runs wait for approval (defaults in common/approval.ts). */
    approvals: z
      .object({
        calicoImageRepair: ApprovalModeSchema.optional(),
        cinderRescanOnResize: ApprovalModeSchema.optional(),
        closedNetworkImageRecovery: ApprovalModeSchema.optional(),
        disableKmemAccounting: ApprovalModeSchema.optional(),
        dockerHubPullSecret: ApprovalModeSchema.optional(),
        fsGroupChangePolicy: ApprovalModeSchema.optional(),
        ghcrMigration: ApprovalModeSchema.optional(),
        logrotateSync: ApprovalModeSchema.optional(),
        nfsLockServicesRestart: ApprovalModeSchema.optional(),
      })
      .strict()
      .optional(),
    calicoImageRepair: z
      .object({
        /** Repository prefixes whose images may go on calico's DaemonSet (default: docker.io/calico). */
        registries: RepositoryPrefixListSchema.optional(),
      })
      .strict()
      .optional(),
    closedNetworkImageRecovery: z
      .object({
        /** Registries images may be pulled from and tagged as the original (default: NHN's internal one). */
        registries: RepositoryPrefixListSchema.optional(),
      })
      .strict()
      .optional(),
    logrotateSync: z
      .object({
        /** Configs that may be installed (default: the guide's docker config only). */
        configs: z.array(LogrotateConfigPolicySchema).min(1).optional(),
      })
      .strict()
      .optional(),
    nodeServices: z
      .object({
        /** systemd units node activities may start or restart (default: rpcbind and rpc-statd). */
        units: z
          .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,254}$/, 'a systemd unit name'))
          .min(1)
          .optional(),
      })
      .strict()
      .optional(),
    ghcrMigration: z
      .object({
        /**
         * Report pull secrets that cover only docker.pkg.github.com (default: off). It reads secrets
         * in every affected namespace, so it needs the cluster-wide `list secrets` of its own role
         * (deploy/rbac/ghcr-migration-secret-report.yaml).
         */
        secretReport: z.boolean().default(false),
      })
      .strict()
      .optional(),
    dockerHubPullSecret: z
      .object({
        /** Namespaces the organisation's Docker Hub credential may be written to (default: none). */
        namespaces: z.array(NamespacePatternSchema).min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export const ClusterEntrySchema = z
  .object({
    kubeconfig: z.string().min(1),
    context: z.string().min(1).optional(),
    nodeAddressType: z.enum(['InternalIP', 'ExternalIP', 'Hostname']).default('InternalIP'),
    ssh: SshSettingsSchema.optional(),
    dockerHub: DockerHubSettingsSchema.optional(),
    policy: PolicySchema.optional(),
    /**
     * The procedures that may run on this cluster, by CLI name or workflow type (default: every
     * one). The worker refuses the others before any activity of theirs does anything, and
     * `nksr rbac` binds the roles of these only. clusterPreflight (read-only) is always allowed.
     */
    procedures: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

/** An Ed25519 public key as `nksr keygen` prints it: base64 of its SPKI DER (44 bytes). */
export const ED25519_SPKI_BASE64 = /^MCowBQYDK2VwAyEA[A-Za-z0-9+/]{43}=$/;

/**
 * Someone who may approve runs: a name (what history records) and the public half of the key
 * `nksr approve` signs with.
 */
export const ApproverSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/, 'letters, digits and . _ @ - (max 100)'),
    publicKey: z.string().regex(ED25519_SPKI_BASE64, 'an Ed25519 public key as nksr keygen prints it'),
  })
  .strict();

export const RegistryFileSchema = z
  .object({
    clusters: z.record(ClusterNameSchema, ClusterEntrySchema),
    /** Who may approve runs on this worker; without any, no approval can be given. */
    approvers: z
      .array(ApproverSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        for (const [i, a] of list.entries()) {
          if (seen.has(a.name))
            ctx.addIssue({ code: 'custom', message: `${a.name} is listed twice`, path: [i, 'name'] });
          seen.add(a.name);
        }
      }),
  })
  .strict();

export type DockerHubSettings = z.infer<typeof DockerHubSettingsSchema>;
export type SshSettings = z.infer<typeof SshSettingsSchema>;
export type ClusterEntry = z.infer<typeof ClusterEntrySchema>;
export type ClusterPolicy = z.infer<typeof PolicySchema>;
export type RegistryFile = z.infer<typeof RegistryFileSchema>;
export type Approver = z.infer<typeof ApproverSchema>;
