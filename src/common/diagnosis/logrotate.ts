/**
 * Guide §1 as a detector: nodes whose logrotate config for container logs differs from the
 * configured one (hashes read over SSH; content never read). Fix: logrotateSync on those nodes.
 * Containerd nodes are not read: kubelet rotates their container logs, the docker config matches
 * nothing there, and logrotateSync leaves them alone too. Pure: the workflow calls it with what the
 * hash activity returned.
 */
import { GUIDE_DOCKER_LOGROTATE_CONFIG, LOGROTATE_SYNC_DEFAULTS } from '../procedures/logrotate-sync';
import { boundedEvidence, type DetectorReport, type Finding } from './types';

export type NodeHash =
  | { node: string; exists: true; sha256: string; md5: string }
  | { node: string; exists: false }
  /** Could not be read (SSH failed), or the node was not Ready. */
  | { node: string; error: string };

export interface LogrotateCheck {
  path: string;
  content: string;
  /** sha256 of `content` as sha256sum prints it. */
  wantedSha256: string;
  wantedMd5: string;
  hashes: readonly NodeHash[];
  /** Ready containerd nodes, not read (kubelet rotates their container logs). */
  notApplicable?: readonly string[];
}

export function detectLogrotateDrift(c: LogrotateCheck): DetectorReport {
  const read = c.hashes.filter((h) => !('error' in h));
  const notApplicable = c.notApplicable ?? [];
  const kubeletRotates = notApplicable.length
    ? `${notApplicable.length} containerd node(s) not applicable (kubelet rotates container logs: containerLogMaxSize/containerLogMaxFiles): ${notApplicable.slice(0, 5).join(', ')}${notApplicable.length > 5 ? ', …' : ''}`
    : '';
  const failed = c.hashes.filter((h): h is Extract<NodeHash, { error: string }> => 'error' in h);
  if (read.length === 0 && notApplicable.length > 0) {
    const notRead = failed.length
      ? `; not read: ${failed.map((f) => `${f.node} (${f.error})`).join(', ')}`
      : '';
    return { detector: 'logrotate', status: 'checked', detail: `${kubeletRotates}${notRead}`, findings: [] };
  }
  if (read.length === 0) {
    return {
      detector: 'logrotate',
      status: 'skipped',
      detail: failed.length
        ? `no node could be read over SSH: ${failed
            .slice(0, 3)
            .map((f) => `${f.node}: ${f.error}`)
            .join('; ')}`
        : 'no Ready node to read',
      findings: [],
    };
  }
  const drifted = read.filter((h) => !('sha256' in h) || h.sha256 !== c.wantedSha256);
  const detail =
    `${read.length} nodes' ${c.path} hashed (wanted md5 ${c.wantedMd5})` +
    (failed.length ? `; not read: ${failed.map((f) => `${f.node} (${f.error})`).join(', ')}` : '') +
    (kubeletRotates ? `; ${kubeletRotates}` : '');
  if (drifted.length === 0) return { detector: 'logrotate', status: 'checked', detail, findings: [] };
  const nodes = drifted.map((h) => h.node).sort();
  const input: Record<string, unknown> = { nodes };
  if (c.path !== LOGROTATE_SYNC_DEFAULTS.path) input.path = c.path;
  if (c.content !== GUIDE_DOCKER_LOGROTATE_CONFIG) input.content = c.content;
  const finding: Finding = {
    detector: 'logrotate',
    severity: 'warning',
    title: `${nodes.length} node(s) have a ${c.path} that differs from the configured one: container logs may fill their disks`,
    nodes,
    objects: nodes.map((n) => `node ${n}`),
    ...boundedEvidence(
      drifted.map((h) => ({
        object: `node ${h.node}`,
        node: h.node,
        reason: 'sha256' in h ? 'Differs' : 'Missing',
        message: 'sha256' in h ? `md5 ${h.md5}, wanted ${c.wantedMd5}` : `${c.path} does not exist`,
      })),
    ),
    fix: { procedure: 'logrotateSync', input },
  };
  return { detector: 'logrotate', status: 'checked', detail, findings: [finding] };
}
