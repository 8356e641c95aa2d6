/**
 * Which of the nodes a run was asked for it will work on: every procedure that acts on nodes takes a
 * list (given, found from events, or every node) and must skip, with the reason in its report, the
 * names the API does not know and the nodes that are not Ready, never silently dropping one.
 * Workflow code: pure.
 */

/** A node the run was asked for and will not touch, and why. */
export interface SkippedNode {
  node: string;
  reason: string;
}

export interface NodeTargets {
  /** The nodes the run works on, in the order asked. */
  targets: string[];
  /** The others, in the order asked. */
  skipped: SkippedNode[];
}

export interface TargetOptions {
  /** The reason a NotReady node is skipped (default `NotReady`). */
  notReadyReason?: string;
}

export function selectTargets(
  wanted: readonly string[],
  nodes: readonly { name: string; ready: boolean }[],
  opts: TargetOptions = {},
): NodeTargets {
  const known = new Map(nodes.map((n) => [n.name, n]));
  const targets: string[] = [];
  const skipped: SkippedNode[] = [];
  for (const node of wanted) {
    const n = known.get(node);
    if (!n) skipped.push({ node, reason: 'no such node' });
    else if (!n.ready) skipped.push({ node, reason: opts.notReadyReason ?? 'NotReady' });
    else targets.push(node);
  }
  return { targets, skipped };
}
