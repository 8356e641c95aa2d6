/** closedNetworkImageRecovery's state as a run learns it, shared by its steps. Workflow code. */
import type {
  ClosedNetworkImageRecoveryOptions,
  ImageNodeEntry,
  ImagePullFailure,
} from '../../common/procedures/closed-network-image-recovery';
import type { ProgressTracker } from '../lib/progress';

/** One run: its input, the pods found, and every node's entry as the run learns it. */
export interface RecoveryRun {
  input: ClosedNetworkImageRecoveryOptions;
  progress: ProgressTracker;
  pods: ImagePullFailure[];
  wanted: string[];
  nodes: Map<string, ImageNodeEntry>;
  approvedBy?: string;
  /** How long an approval gate waited before it expired. */
  expiredAfter?: string;
}
