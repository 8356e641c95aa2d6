/**
 * Where to reach a node: its address comes from the Kubernetes API (the registry's node address
 * type, InternalIP by default), never from activity input, so a workflow input cannot point SSH at an
 * arbitrary host.
 */
import { isIP } from 'node:net';
import type { V1Node } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import { ClusterNameSchema } from '../../common/registry-schema';
import { validateNodeName } from '../../common/shell';
import type { ActivityDeps } from '../deps';
import { withKube } from '../errors';
import { kubeClientsFor } from '../kube/client';
import type { SshTarget } from './ssh';

/** Names a node of a registered cluster. Every node activity's input extends this. */
export interface NodeRef {
  cluster: string;
  /** Kubernetes node name. */
  node: string;
}

export interface NodeStatus {
  ready: boolean;
  bootID?: string;
  address?: string;
}

export function validateNodeRef(ref: NodeRef): void {
  if (!ref || typeof ref !== 'object') {
    throw ApplicationFailure.nonRetryable(
      'input must be an object with cluster and node',
      ErrorType.InvalidInput,
    );
  }
  if (!ClusterNameSchema.safeParse(ref.cluster).success) {
    throw ApplicationFailure.nonRetryable(
      `invalid cluster name ${JSON.stringify(ref.cluster)}`,
      ErrorType.InvalidInput,
    );
  }
  validateNodeName(ref.node);
}

// A DNS name as a node address: letters, digits, dots and dashes only.
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i;

function statusOf(node: V1Node, addressType: string): NodeStatus {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const address = node.status?.addresses?.find((a) => a.type === addressType)?.address;
  return { ready, bootID: node.status?.nodeInfo?.bootID || undefined, address };
}

/** Reads the node from the API server: Ready, bootID and address. */
export async function readNodeStatus(deps: ActivityDeps, ref: NodeRef): Promise<NodeStatus> {
  const entry = deps.registry.get(ref.cluster);
  const kube = kubeClientsFor(deps.registry).forCluster(ref.cluster);
  const node = await withKube(
    { cluster: ref.cluster, operation: `read node ${ref.node}`, server: kube.server },
    () => kube.core.readNode({ name: ref.node }),
  );
  return statusOf(node, entry.nodeAddressType);
}

/** The SSH target of a node: registry SSH settings plus the node's address from the API server. */
export async function resolveSshTarget(deps: ActivityDeps, ref: NodeRef): Promise<SshTarget> {
  return (await resolveNode(deps, ref)).target;
}

/** The node's SSH target and the status it was read from. */
export async function resolveNode(
  deps: ActivityDeps,
  ref: NodeRef,
): Promise<{ target: SshTarget; status: NodeStatus }> {
  validateNodeRef(ref);
  const entry = deps.registry.get(ref.cluster);
  if (!entry.ssh) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${ref.cluster}" has no ssh settings in the cluster registry`,
      ErrorType.RegistryInvalid,
      { cluster: ref.cluster },
    );
  }
  const status = await readNodeStatus(deps, ref);
  const { address } = status;
  if (!address) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${ref.cluster}": node ${ref.node} reports no ${entry.nodeAddressType} address`,
      ErrorType.RemediationFailed,
      { cluster: ref.cluster, node: ref.node },
    );
  }
  if (isIP(address) === 0 && !HOSTNAME.test(address)) {
    throw ApplicationFailure.nonRetryable(
      `cluster "${ref.cluster}": node ${ref.node} reports an unusable address ${JSON.stringify(address.slice(0, 80))}`,
      ErrorType.RemediationFailed,
      { cluster: ref.cluster, node: ref.node },
    );
  }
  return { target: { cluster: ref.cluster, node: ref.node, host: address, settings: entry.ssh }, status };
}
