/**
 * Guide §8: on clusters ≥ 1.20, `cinder-csi-cloud-config` without `rescan-on-resize=true` in
 * [BlockStorage]: a PV grown later keeps its old filesystem size in the pod. A latent risk, reported
 * as such. Fix: cinderRescanOnResize. The secret's content is read by the worker; only the key's
 * state reaches this detector. Pure.
 */
import { CINDER } from '../../../common/procedures/cinder-rescan-on-resize';
import type { Finding } from '../../../common/diagnosis/types';
import { defineDetector, kubeletMinor } from './snapshot';

export const cinderRescanDetector = defineDetector({
  name: 'cinderRescan',
  needs: ['cinderConfig', 'nodes'],
  detect({ cinderConfig, nodes }) {
    const where = `secret ${CINDER.namespace}/${CINDER.secret}`;
    if (!cinderConfig.found) return { detail: `${where}: absent (no cinder CSI driver)`, findings: [] };
    const versions = nodes.map(kubeletMinor).filter((v): v is [number, number] => v !== undefined);
    const oldest = versions.sort((a, b) => a[0] - b[0] || a[1] - b[1])[0];
    const detail = `${where}: ${CINDER.key}=${cinderConfig.rescanOnResize}; kubelet ${oldest ? `≥ ${oldest.join('.')}` : 'unknown'}`;
    if (cinderConfig.rescanOnResize === 'true') return { detail, findings: [] };
    // The guide: only clusters from 1.20 on need it (the older cinder driver resized differently).
    if (oldest && (oldest[0] < 1 || (oldest[0] === 1 && oldest[1] < 20))) return { detail, findings: [] };
    const finding: Finding = {
      detector: 'cinderRescan',
      severity: 'latent',
      title:
        cinderConfig.rescanOnResize === 'unparsable'
          ? `${where}: cloud-config cannot be parsed as INI; ${CINDER.key} cannot be checked`
          : `${where}: [${CINDER.section}] ${CINDER.key} is ${cinderConfig.rescanOnResize}: a PV resized later will not grow its filesystem`,
      nodes: [],
      objects: [where],
      evidence: [{ object: where, reason: `${CINDER.key}=${cinderConfig.rescanOnResize}` }],
      ...(cinderConfig.rescanOnResize === 'unparsable'
        ? { note: 'fix the cloud-config by hand; cinderRescanOnResize refuses an unparsable INI' }
        : { fix: { procedure: 'cinderRescanOnResize', input: {} } }),
    };
    return { detail, findings: [finding] };
  },
});
