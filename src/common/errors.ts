/**
 * Named failure types. Activities throw ApplicationFailure with one of these types (classification
 * lives in src/activities/errors.ts); workflows and clients match on them. Part of the interface:
 * do not rename.
 */
export const ErrorType = {
  InvalidInput: 'InvalidInput',
  UnknownCluster: 'UnknownCluster',
  RegistryInvalid: 'RegistryInvalid',
  KubeApiUnreachable: 'KubeApiUnreachable',
  KubeUnauthorized: 'KubeUnauthorized',
  KubeForbidden: 'KubeForbidden',
  KubeNotFound: 'KubeNotFound',
  KubeConflict: 'KubeConflict',
  KubeInvalid: 'KubeInvalid',
  KubeServerError: 'KubeServerError',
  SshHostKeyMismatch: 'SshHostKeyMismatch',
  SshHostKeyUnknown: 'SshHostKeyUnknown',
  SshAuthFailed: 'SshAuthFailed',
  SshConnectionFailed: 'SshConnectionFailed',
  SshTimeout: 'SshTimeout',
  RemoteCommandFailed: 'RemoteCommandFailed',
  NodesNotReady: 'NodesNotReady',
  ImagePullFailed: 'ImagePullFailed',
  RolloutFailed: 'RolloutFailed',
  RolloutTimeout: 'RolloutTimeout',
  RemediationFailed: 'RemediationFailed',
  /** A configuration object in the cluster (a secret's INI, say) is absent or unreadable as such. */
  ConfigInvalid: 'ConfigInvalid',
  ApprovalRejected: 'ApprovalRejected',
  /** An image outside the registries the cluster's policy allows (clusters.yaml): refused before any change. */
  ImageNotAllowed: 'ImageNotAllowed',
  /** Something else the worker's policy (clusters.yaml) does not allow: refused before any change. */
  PolicyRefused: 'PolicyRefused',
} as const;

export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];
