/** clusterPreflight's input and report: the first step of every procedure. */
import type { BaseRemediationInput } from './types';

export type ClusterPreflightInput = BaseRemediationInput;

export interface NodeReport {
  name: string;
  ready: boolean;
  /** Reason/message of the Ready condition when not Ready. */
  readyReason?: string;
  internalIP?: string;
  kubeletVersion: string;
  containerRuntime: string;
  bootID?: string;
  unschedulable: boolean;
}

export interface ClusterPreflightResult {
  cluster: string;
  nodes: NodeReport[];
  readyCount: number;
  notReady: string[];
  checkedAt: string;
}
