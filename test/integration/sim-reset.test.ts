/**
 * The shared simulator's reset (sim/reset.ts) against the real simulator: what tests leave behind
 * (a repaired calico, a cordoned and annotated node, a NotReady node, a node's SSH server stopped,
 * node files changed, an image fault, a test namespace, a stray object, a changed fixture Secret and
 * Deployment, FailedMount events) is put back as `sim up` left it, and a second
 * reset finds nothing to do.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { nodePaths, getSshNodesStatus, setNodeFault } from '../../sim/nodes';
import { resetToBaseline } from '../../sim/reset';
import { connectSim, requiredEnv, simAvailable, useSharedSim } from './helpers';
import { waitFor } from './diagnosis-faults';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(300_000);

maybe('resetToBaseline', () => {
  const dir = () => requiredEnv('NKSR_SIM_DIR');

  test('puts back what tests change, and then has nothing left to do', async () => {
    const { sim, core, apps } = connectSim();
    const [n0, n1, n2, n3] = sim.nodes.map((n) => n.name).sort() as [string, string, string, string];
    const logrotate = path.join(nodePaths(dir(), n0).etcLogrotateD, 'docker');
    // Node 2 starts without the file (the simulator's drift): one a test writes there goes again.
    const absent = path.join(nodePaths(dir(), n1).etcLogrotateD, 'docker');
    expect(existsSync(absent)).toBe(false);
    const statd = path.join(nodePaths(dir(), n0).units, 'rpc-statd');
    const before = {
      logrotate: readFileSync(logrotate, 'utf8'),
      statd: readFileSync(statd, 'utf8'),
      secret: (await core.readNamespacedSecret({ name: 'cinder-csi-cloud-config', namespace: 'kube-system' }))
        .data,
      calicoImage: (await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: 'kube-system' }))
        .spec!.template.spec!.containers[0]!.image,
    };

    await sim.kubectl([
      '-n',
      'kube-system',
      'set',
      'image',
      'ds/calico-node',
      'calico-node=docker.io/calico/node:v3.20.0',
    ]);
    await sim.kubectl(['cordon', n1]);
    await sim.kubectl(['annotate', 'node', n1, 'nksr.io/cordoned-by=sim-reset-test']);
    await sim.setNodeReady({ node: n2, ready: false });
    await setNodeFault({ dir: dir(), node: n3, fault: 'sshd-stopped' });
    writeFileSync(logrotate, 'changed by sim-reset-test\n');
    writeFileSync(absent, 'written by sim-reset-test\n');
    writeFileSync(statd, 'inactive\n');
    await sim.failImage({ pattern: 'sim-reset-test' });
    await sim.kubectl(['create', 'namespace', 'sim-reset-test']);
    await sim.kubectl(['-n', 'kube-system', 'create', 'configmap', 'sim-reset-test']);
    await sim.kubectl([
      '-n',
      'kube-system',
      'patch',
      'secret',
      'cinder-csi-cloud-config',
      '--type=merge',
      '-p',
      '{"stringData":{"extra":"x"}}',
    ]);
    await sim.kubectl([
      '-n',
      'media',
      'patch',
      'deploy',
      'photo-store',
      '--type=merge',
      '-p',
      '{"spec":{"template":{"spec":{"securityContext":{"fsGroup":1000,"fsGroupChangePolicy":"OnRootMismatch"}}}}}',
    ]);
    const timedOut = await sim.mountTimeout({ namespace: 'media', selector: 'app=photo-store' });
    await waitFor(`${n2} NotReady`, async () => {
      const n = await core.readNode({ name: n2 });
      return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status !== 'True');
    });

    const report = await resetToBaseline(dir());
    const said = report.restored.join('\n');
    for (const what of [
      'image faults cleared: 1',
      `${n3}: SSH fault sshd-stopped lifted`,
      'namespaces deleted: sim-reset-test',
      'configmaps/kube-system/sim-reset-test',
      'daemonsets.apps/kube-system/calico-node',
      'secrets/kube-system/cinder-csi-cloud-config',
      'deployments.apps/media/photo-store',

      `FailedMount events deleted: ${timedOut.length}`,
    ])
      expect(said).toContain(what);

    expect(readFileSync(logrotate, 'utf8')).toBe(before.logrotate);
    expect(existsSync(absent)).toBe(false);
    expect(readFileSync(statd, 'utf8')).toBe(before.statd);
    expect(sim.state.faults.images).toEqual([]);
    expect((await getSshNodesStatus({ dir: dir() })).every((s) => s.state === 'up')).toBe(true);
    for (const n of (await core.listNode()).items) {
      expect(n.spec?.unschedulable ?? false).toBe(false);
      expect(n.metadata?.annotations?.['nksr.io/cordoned-by']).toBeUndefined();
      expect(n.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    }
    const names = (await core.listNamespace()).items.map((n) => n.metadata?.name);
    expect(names).not.toContain('sim-reset-test');
    expect(
      (await core.readNamespacedSecret({ name: 'cinder-csi-cloud-config', namespace: 'kube-system' })).data,
    ).toEqual(before.secret);
    const ds = await apps.readNamespacedDaemonSet({ name: 'calico-node', namespace: 'kube-system' });
    expect(ds.spec!.template.spec!.containers[0]!.image).toBe(before.calicoImage);
    const calicoPods = (
      await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: 'k8s-app=calico-node' })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(calicoPods).toHaveLength(sim.nodes.length);
    expect(calicoPods.every((p) => p.spec!.containers[0]!.image === before.calicoImage)).toBe(true);
    const store = await apps.readNamespacedDeployment({ name: 'photo-store', namespace: 'media' });
    expect(store.spec!.template.spec!.securityContext?.fsGroupChangePolicy).toBeUndefined();
    const events = await core.listEventForAllNamespaces({ fieldSelector: 'reason=FailedMount' });
    expect(events.items).toHaveLength(0);

    expect((await resetToBaseline(dir())).restored).toEqual([]);
  });
});
