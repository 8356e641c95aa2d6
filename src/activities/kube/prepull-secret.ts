/**
 * The Docker Hub pull secret of calicoImageRepair's pre-pulls: one per run, made of the worker's
 * Docker Hub credential just before the first pre-pull pod and deleted after the last, so docker.io
 * pulls count against the account's limit instead of the anonymous one NKS nodes without floating
 * IPs share. The run is the activity's own (its workflow ID and run ID): no input names the secret,
 * so none can point these activities at a secret of someone else. The credential goes nowhere but
 * into the Secret's data: results carry names and actions, errors name the file, never its content.
 */
import type { V1Secret } from '@kubernetes/client-node';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { prePullSecretNameFor, runLabelOf } from '../../common/calico-prepull';
import { ErrorType } from '../../common/errors';
import { withKube, withKubeAnswering } from '../errors';
import type { ClusterKube } from './client';
import { isConflict, MAX_CONFLICT_RETRIES } from './conflicts';
import { PREPULL_LABELS, PREPULL_MANAGED_BY, PREPULL_PURPOSE } from './prepull';

const DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson';
const DATA_KEY = '.dockerconfigjson';
/** Who owns the secret, readable by an operator: the run's workflow ID and run ID. */
const OWNER_ANNOTATIONS = { workflowId: 'nksr.io/workflow-id', runId: 'nksr.io/run-id' } as const;

/** The run calling this activity: its label (as the workflow computes it) and its secret's name. */
function ownRun(): { runLabel: string; name: string; workflowId: string; runId: string } {
  const execution = Context.current().info.workflowExecution;
  if (!execution)
    throw ApplicationFailure.nonRetryable(
      'the pre-pull pull secret belongs to a workflow run: this activity was not started by one',
      ErrorType.InvalidInput,
    );
  const { workflowId, runId } = execution;
  const runLabel = runLabelOf(`${workflowId}/${runId}`);
  return { runLabel, name: prePullSecretNameFor(runLabel), workflowId, runId };
}

const secretCall = (kube: ClusterKube, operation: string) => ({
  cluster: kube.cluster,
  operation,
  server: kube.server,
});

/** Ours: made by a calico pre-pull of nks-remediation (any run). */
function isPrePullSecret(secret: V1Secret): boolean {
  const labels = secret.metadata?.labels ?? {};
  return (
    labels[PREPULL_LABELS.managedBy] === PREPULL_MANAGED_BY &&
    labels[PREPULL_LABELS.purpose] === PREPULL_PURPOSE
  );
}

/**
 * The secret of that name, if any: listed by field selector, so the role needs `list` (which the
 * sweep uses anyway) and no `get`.
 */
async function findSecret(kube: ClusterKube, namespace: string, name: string): Promise<V1Secret | undefined> {
  const list = await withKube(secretCall(kube, `list secret ${namespace}/${name}`), () =>
    kube.core.listNamespacedSecret({ namespace, fieldSelector: `metadata.name=${name}` }),
  );
  return list.items[0];
}

/** True if this call deleted it; false if it was gone (or replaced: the UID no longer matches). */
async function deleteSecretIfPresent(
  kube: ClusterKube,
  namespace: string,
  secret: V1Secret,
): Promise<boolean> {
  const name = secret.metadata?.name ?? '';
  return withKubeAnswering(
    secretCall(kube, `delete secret ${namespace}/${name}`),
    [404, 409],
    false,
    async () => {
      await kube.core.deleteNamespacedSecret({
        name,
        namespace,
        body: { preconditions: { uid: secret.metadata?.uid } },
      });
      return true;
    },
  );
}

export interface EnsurePrePullSecretResult {
  /** The run's pull secret: what its docker.io pre-pull pods reference. */
  secret: string;
  /** created; unchanged (an earlier attempt of the run made it); replaced (the credential changed since). */
  action: 'created' | 'unchanged' | 'replaced';
}

/**
 * Creates the run's pull secret (type dockerconfigjson, labelled as the pre-pull pods are, annotated
 * with the workflow ID and run ID) from `credential`. Check-then-act: a secret of that name that is
 * the run's own with the same content is left as it is; the run's own with other content (the
 * credential file changed between attempts) is deleted (UID precondition) and made again; one that
 * is not ours is refused, untouched. A create that meets an existing one (409) reads again.
 * Idempotency: any number of calls leave one secret of the current credential.
 */
export async function ensurePrePullSecret(
  kube: ClusterKube,
  credential: string,
  input: { namespace: string },
): Promise<EnsurePrePullSecretResult> {
  const { namespace } = input;
  const run = ownRun();
  const what = `secret ${namespace}/${run.name}`;
  const data = { [DATA_KEY]: Buffer.from(credential).toString('base64') };
  let replaced = false;
  for (let attempt = 1; ; attempt++) {
    const existing = await findSecret(kube, namespace, run.name);
    if (existing) {
      if (!isPrePullSecret(existing) || existing.metadata?.labels?.[PREPULL_LABELS.run] !== run.runLabel) {
        throw ApplicationFailure.nonRetryable(
          `cluster "${kube.cluster}": ${what} exists and is not this run's pull secret (labels ` +
            `${PREPULL_LABELS.purpose}=${PREPULL_PURPOSE}, ${PREPULL_LABELS.run}=${run.runLabel}): left alone`,
          ErrorType.PolicyRefused,
        );
      }
      if (existing.type === DOCKERCONFIGJSON && existing.data?.[DATA_KEY] === data[DATA_KEY])
        return { secret: run.name, action: replaced ? 'replaced' : 'unchanged' };
      await deleteSecretIfPresent(kube, namespace, existing);
      replaced = true;
    }
    try {
      await kube.core.createNamespacedSecret({
        namespace,
        body: {
          metadata: {
            name: run.name,
            namespace,
            labels: {
              [PREPULL_LABELS.managedBy]: PREPULL_MANAGED_BY,
              [PREPULL_LABELS.purpose]: PREPULL_PURPOSE,
              [PREPULL_LABELS.run]: run.runLabel,
            },
            annotations: {
              [OWNER_ANNOTATIONS.workflowId]: run.workflowId,
              [OWNER_ANNOTATIONS.runId]: run.runId,
            },
          },
          type: DOCKERCONFIGJSON,
          data,
        },
      });
      return { secret: run.name, action: replaced ? 'replaced' : 'created' };
    } catch (err) {
      // 409: another attempt created it first (or it is being deleted): read it again.
      if (isConflict(err) && attempt < MAX_CONFLICT_RETRIES) continue;
      // Classified without the request (it holds the credential): the operation and the server's reason.
      return withKube(secretCall(kube, `create ${what}`), () => Promise.reject(err));
    }
  }
}

/**
 * Deletes the pre-pull pull secrets of `selector` (ours only, each with its UID as precondition) and
 * returns the names this call deleted. Idempotency: what is already gone is a no-op.
 */
async function deletePrePullSecretsWhere(
  kube: ClusterKube,
  namespace: string,
  selector: string,
): Promise<{ deleted: string[] }> {
  const list = await withKube(secretCall(kube, `list pre-pull secrets ${namespace} (${selector})`), () =>
    kube.core.listNamespacedSecret({ namespace, labelSelector: selector }),
  );
  const deleted: string[] = [];
  for (const secret of list.items.filter(isPrePullSecret)) {
    if (await deleteSecretIfPresent(kube, namespace, secret)) deleted.push(secret.metadata?.name ?? '');
    Context.current().heartbeat();
  }
  return { deleted };
}

/**
 * Deletes this run's pull secret once its pre-pulls are over (also after a failure or a cancel).
 * Idempotency: deleting what is already gone is a no-op; safe to call any number of times.
 */
export function deleteOwnPrePullSecret(
  kube: ClusterKube,
  input: { namespace: string },
): Promise<{ deleted: string[] }> {
  const { runLabel } = ownRun();
  return deletePrePullSecretsWhere(
    kube,
    input.namespace,
    `${PREPULL_LABELS.purpose}=${PREPULL_PURPOSE},${PREPULL_LABELS.run}=${runLabel}`,
  );
}

/**
 * Deletes the pull secrets every other run left (a run terminated or crashed before its cleanup),
 * before this run starts its pre-pulls; as with the pods, one calicoImageRepair holds the cluster at
 * a time, so another run's secret is always stale.
 * Idempotency: deleting what is already gone is a no-op; returns the names this call deleted.
 */
export function deleteStalePrePullSecretsOf(
  kube: ClusterKube,
  input: { namespace: string },
): Promise<{ deleted: string[] }> {
  const { runLabel } = ownRun();
  return deletePrePullSecretsWhere(
    kube,
    input.namespace,
    `${PREPULL_LABELS.purpose}=${PREPULL_PURPOSE},${PREPULL_LABELS.run}!=${runLabel}`,
  );
}
