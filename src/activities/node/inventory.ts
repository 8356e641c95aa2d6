/** What a node says about itself, for nodeInventory (and the procedures that decide from it). */
import type { NodeFacts } from '../../common/procedures/node-inventory';
import type { ActivityDeps } from '../deps';
import { type NodeCall, onNode } from './context';
import type { NodeRef } from './nodes';

// A constant script: nothing from input reaches the node's shell.
const FACTS_SCRIPT = `set -eu
uname -r
cat /proc/sys/kernel/random/boot_id
cat /proc/cmdline
df -P /var/lib | awk 'NR==2 { sub("%", "", $5); print $5 }'`;

async function readFacts(call: NodeCall): Promise<NodeFacts> {
  const r = await call.scriptOk(FACTS_SCRIPT, [], { operation: 'read node facts', timeoutMs: 30_000 });
  const [kernelRelease = '', bootId = '', cmdline = '', use = ''] = r.stdout.split('\n').map((l) => l.trim());
  const varLibUsePercent = Number(use);
  if (!kernelRelease || !bootId || !Number.isFinite(varLibUsePercent) || use === '') {
    throw call.commandFailed('read node facts (unexpected output)', r);
  }
  return { kernelRelease, bootId, cmdline, varLibUsePercent };
}

export function createInventoryActivities(deps: ActivityDeps) {
  return {
    /** Kernel release, boot ID, kernel command line and /var/lib use of a node. Read-only; safe to retry. */
    async readNodeFacts(input: NodeRef): Promise<NodeFacts> {
      return onNode(deps, input, readFacts);
    },
  };
}
