/**
 * The simulator's SSH nodes, end to end: a real control plane (simUp), real Debian sshd per node in its
 * own mount namespace, the OpenSSH client verifying host keys against the simulator's known_hosts.
 *
 * Starts its own simulator (not the run's shared one: reboots and faults change node state) at the
 * run's `sim-nodes` place (sim/testing.ts testSimPlace), and stops it afterwards.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { simDown, simUp, type SimHandle } from '../../sim';
import {
  GUIDE_DOCKER_LOGROTATE,
  getSshNodesStatus,
  nodePaths,
  setNodeFault,
  simPaths,
  type NodeStatus,
} from '../../sim/nodes';
import { listNamespaceProcesses } from '../../sim/nodes/control';
import { testSimPlace } from '../../sim/testing';
import { sshAsCentos, useSharedSim } from './helpers';

useSharedSim();

const { dir: SIM_DIR, ipPrefix: IP_PREFIX } = testSimPlace('sim-nodes');
const REBOOT_DOWN_MS = 4_000;

jest.setTimeout(240_000);

let sim: SimHandle;
let nodes: { name: string; ip: string }[] = [];

const ssh = (ip: string, command: string, timeoutMs?: number) => sshAsCentos(SIM_DIR, ip, command, timeoutMs);

async function sshOk(ip: string, command: string): Promise<string> {
  const r = await ssh(ip, command);
  if (r.code !== 0) throw new Error(`ssh ${ip} ${command}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function kubeNode(name: string): Promise<{ ready: boolean; bootId: string }> {
  const n = await sim.core().readNode({ name });
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  return { ready, bootId: n.status?.nodeInfo?.bootID ?? '' };
}

const node = (i: number) => {
  const n = nodes[i];
  if (!n) throw new Error(`no node ${i}`);
  return n;
};

beforeAll(async () => {
  await simDown({ dir: SIM_DIR }).catch(() => undefined);
  const t0 = Date.now();
  sim = await simUp({ dir: SIM_DIR, ipPrefix: IP_PREFIX, nodes: 5, drift: { rebootDownMs: REBOOT_DOWN_MS } });
  nodes = sim.nodes.map(({ name, ip }) => ({ name, ip }));
  console.log(`sim up with 5 SSH nodes in ${Date.now() - t0} ms (${SIM_DIR})`);
});

afterAll(async () => {
  await simDown({ dir: SIM_DIR });
});

test('each of the 5 nodes answers SSH as centos, host key verified, as itself', async () => {
  expect(nodes).toHaveLength(5);
  for (const n of nodes) {
    const out = await sshOk(n.ip, 'id -un; hostname; cat /proc/sys/kernel/random/boot_id; sudo -n id -u');
    const [user, host, bootId, rootUid] = out.trim().split('\n');
    expect({ user, host, rootUid }).toEqual({ user: 'centos', host: n.name, rootUid: '0' });
    // The node's own boot ID is what Kubernetes reports for it.
    await waitFor(
      'bootID in the API',
      async () => ((await kubeNode(n.name)).bootId === bootId ? true : undefined),
      10_000,
    );
  }
  // The third node's known_hosts entry is hashed: the check above went through it.
  expect(fs.readFileSync(simPaths(SIM_DIR).knownHosts, 'utf8').split('\n')[2]).toMatch(/^\|1\|/);
});

test('a replaced host key is refused; a stopped sshd refuses connections; a hung one times out', async () => {
  const n = node(2);
  await setNodeFault({ dir: SIM_DIR, node: n.name, fault: 'host-key-replaced' });
  const mitm = await ssh(n.ip, 'true');
  expect(mitm.code).toBe(255);
  expect(mitm.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED/);
  expect(mitm.stderr).toMatch(/Host key verification failed/);

  await setNodeFault({ dir: SIM_DIR, node: n.name, fault: 'sshd-stopped' });
  const refused = await ssh(n.ip, 'true');
  expect(refused.code).toBe(255);
  expect(refused.stderr).toMatch(/Connection refused/);

  await setNodeFault({ dir: SIM_DIR, node: n.name, fault: 'sshd-hung' });
  const t0 = Date.now();
  const hung = await ssh(n.ip, 'true');
  expect(hung.code).toBe(255);
  expect(hung.stderr).toMatch(/timed out/);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(2_500);

  await setNodeFault({ dir: SIM_DIR, node: n.name, fault: 'none' });
  expect((await sshOk(n.ip, 'hostname')).trim()).toBe(n.name);
});

test('writing /etc/logrotate.d/docker on node 1 changes neither node 2 nor the host', async () => {
  const md5 = 'md5sum /etc/logrotate.d/docker 2>/dev/null || echo absent';
  const hostBefore = fs.existsSync('/etc/logrotate.d/docker')
    ? fs.readFileSync('/etc/logrotate.d/docker', 'utf8')
    : null;
  const node2Before = await sshOk(node(1).ip, md5);
  const content = `${GUIDE_DOCKER_LOGROTATE.trimEnd()}\n# node-1 only ${Date.now()}\n`;
  await sshOk(node(0).ip, `printf '%s' '${content}' | sudo tee /etc/logrotate.d/docker >/dev/null`);
  expect(await sshOk(node(0).ip, 'cat /etc/logrotate.d/docker')).toBe(content);
  expect(await sshOk(node(1).ip, md5)).toBe(node2Before);
  const hostAfter = fs.existsSync('/etc/logrotate.d/docker')
    ? fs.readFileSync('/etc/logrotate.d/docker', 'utf8')
    : null;
  expect(hostAfter).toBe(hostBefore);
  // The file really lives in node 1's own tree.
  expect(fs.readFileSync(path.join(nodePaths(SIM_DIR, node(0).name).etcLogrotateD, 'docker'), 'utf8')).toBe(
    content,
  );
});

test('stand-ins keep per-node state and log every call', async () => {
  const n = node(4);
  expect((await ssh(n.ip, 'systemctl is-active rpc-statd rpcbind')).stdout).toBe('active\nactive\n');
  expect((await ssh(n.ip, 'systemctl restart rpc-statd')).code).toBe(1); // not root: refused, as on a node
  await sshOk(n.ip, 'sudo systemctl stop rpcbind');
  const stopped = await ssh(n.ip, 'systemctl is-active rpc-statd rpcbind');
  expect({ code: stopped.code, out: stopped.stdout }).toEqual({ code: 3, out: 'inactive\ninactive\n' });
  await sshOk(n.ip, 'sudo systemctl restart rpc-statd'); // Requires=rpcbind pulls it back in
  expect((await ssh(n.ip, 'systemctl is-active rpc-statd rpcbind')).code).toBe(0);
  expect((await ssh(node(3).ip, 'systemctl is-active rpc-statd')).stdout).toBe('active\n');

  // nerdctl without a namespace puts the image where kubelet does not look.
  await sshOk(n.ip, 'sudo nerdctl pull harbor-kr1.cloud.toastoven.net/container_service/pause:3.2');
  expect(
    (
      await ssh(
        n.ip,
        'sudo nerdctl -n k8s.io inspect harbor-kr1.cloud.toastoven.net/container_service/pause:3.2',
      )
    ).code,
  ).toBe(1);
  await sshOk(
    n.ip,
    'sudo nerdctl --namespace k8s.io pull harbor-kr1.cloud.toastoven.net/container_service/pause:3.2',
  );
  await sshOk(
    n.ip,
    'sudo nerdctl -n k8s.io tag harbor-kr1.cloud.toastoven.net/container_service/pause:3.2 k8s.gcr.io/pause:3.2',
  );
  expect(
    (
      await ssh(
        node(3).ip,
        'sudo nerdctl -n k8s.io inspect harbor-kr1.cloud.toastoven.net/container_service/pause:3.2',
      )
    ).code,
  ).toBe(1);

  expect((await ssh(n.ip, 'sudo logrotate -d /etc/logrotate.d/docker')).code).toBe(0);
  // Real logrotate checks the syntax (of root-owned files: it skips others, as on a real node).
  const broken = await ssh(
    n.ip,
    "printf '/x/*.log {\\n  rotat 3\\n}\\n' | sudo tee /tmp/bad.conf >/dev/null; sudo logrotate -d /tmp/bad.conf",
  );
  expect(broken.code).not.toBe(0);
  expect(broken.stderr).toMatch(/unknown option 'rotat'/);
  // /tmp is per node too.
  expect((await ssh(node(3).ip, 'test -e /tmp/bad.conf')).code).toBe(1);

  const calls = fs.readFileSync(nodePaths(SIM_DIR, n.name).callsLog, 'utf8');
  expect(calls).toMatch(/uid=1\d{3} systemctl restart rpc-statd/);
  expect(calls).toMatch(/uid=0 systemctl stop rpcbind/);
  expect(calls).toMatch(/uid=0 nerdctl -n k8s.io tag harbor-kr1/);
  expect(calls).toMatch(/uid=0 logrotate -d \/tmp\/bad.conf/);
  expect(fs.readFileSync(nodePaths(SIM_DIR, node(3).name).callsLog, 'utf8')).not.toMatch(/rpcbind|tag/);
});

/** `sudo reboot` over SSH; checks the way down and the way back; returns the new boot ID. */
async function rebootAndWait(n: { name: string; ip: string }, oldBootId: string): Promise<string> {
  const t0 = Date.now();
  const cut = await ssh(n.ip, 'sudo reboot');
  expect(cut.code).toBe(255); // the session dies with the node
  const refused = await ssh(n.ip, 'true');
  expect(refused.stderr).toMatch(/Connection refused/);
  await waitFor('NotReady', async () => ((await kubeNode(n.name)).ready ? undefined : true), REBOOT_DOWN_MS);
  const tNotReady = Date.now() - t0;
  const back = await waitFor(
    'Ready with a new boot ID',
    async () => {
      const k = await kubeNode(n.name);
      return k.ready && k.bootId !== oldBootId ? k : undefined;
    },
    REBOOT_DOWN_MS + 20_000,
  );
  const nodeBootId = (await sshOk(n.ip, 'cat /proc/sys/kernel/random/boot_id')).trim();
  expect(nodeBootId).toBe(back.bootId);
  console.log(
    `${n.name}: NotReady after ${tNotReady} ms, Ready with a new boot ID after ${Date.now() - t0} ms`,
  );
  return back.bootId;
}

test('sudo reboot: SSH goes, NotReady, Ready with a new boot ID; /proc/cmdline follows grub only after grub2-mkconfig', async () => {
  const n = node(3);
  const boot0 = (await kubeNode(n.name)).bootId;
  expect((await sshOk(n.ip, 'cat /proc/cmdline')).trim()).not.toMatch(/cgroup.memory=nokmem/);
  await sshOk(
    n.ip,
    `sudo sed -i 's/^GRUB_CMDLINE_LINUX="\\(.*\\)"/GRUB_CMDLINE_LINUX="\\1 cgroup.memory=nokmem"/' /etc/default/grub`,
  );
  expect(await sshOk(n.ip, 'grep ^GRUB_CMDLINE_LINUX= /etc/default/grub')).toMatch(/cgroup.memory=nokmem"$/m);

  const boot1 = await rebootAndWait(n, boot0);
  expect((await sshOk(n.ip, 'cat /proc/cmdline')).trim()).not.toMatch(/cgroup.memory=nokmem/);

  await sshOk(n.ip, 'sudo grub2-mkconfig -o /boot/grub2/grub.cfg');
  expect(await sshOk(n.ip, 'cat /proc/cmdline')).not.toMatch(/cgroup.memory=nokmem/); // not before the reboot
  const boot2 = await rebootAndWait(n, boot1);
  expect(boot2).not.toBe(boot0);
  expect((await sshOk(n.ip, 'cat /proc/cmdline')).trim()).toMatch(
    / ro console=tty0 .* cgroup.memory=nokmem$/,
  );

  // Other nodes kept their kernel and boot.
  expect(await sshOk(node(0).ip, 'cat /proc/cmdline')).not.toMatch(/nokmem/);
  const status = await getSshNodesStatus({ dir: SIM_DIR });
  expect(status.find((s: NodeStatus) => s.name === n.name)?.boots).toBe(3);
  expect(status.find((s: NodeStatus) => s.name === node(0).name)?.boots).toBe(1);
  const calls = fs.readFileSync(nodePaths(SIM_DIR, n.name).callsLog, 'utf8');
  expect(calls.match(/uid=0 reboot/g)).toHaveLength(2);
  expect(calls).toMatch(/uid=0 grub2-mkconfig -o \/boot\/grub2\/grub.cfg/);
});

test('down leaves no sshd, supervisor or mount namespace behind', async () => {
  const status = await getSshNodesStatus({ dir: SIM_DIR });
  const supervisorPid = Number(fs.readFileSync(simPaths(SIM_DIR).supervisorPid, 'utf8'));
  const sshdPids = status.map((s) => s.sshdPid).filter((p): p is number => p !== undefined);
  // Each node's namespace of its current boot. Those of earlier boots died with the reboot, and the
  // kernel may since have given their numbers to another simulator's nodes (helpers, benches).
  const namespaces = new Set(
    nodes.map((n) =>
      fs.readFileSync(nodePaths(SIM_DIR, n.name).mountNamespaces, 'utf8').trim().split('\n').pop()!,
    ),
  );
  expect(sshdPids).toHaveLength(5);
  expect(namespaces.size).toBe(5);
  expect(listNamespaceProcesses(namespaces).size).toBeGreaterThanOrEqual(5);

  await simDown({ dir: SIM_DIR });

  const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);
  expect([supervisorPid, ...sshdPids].filter(alive)).toEqual([]);
  expect([...listNamespaceProcesses(namespaces)]).toEqual([]);
  const lsns = await new Promise<string>((resolve, reject) =>
    execFile('lsns', ['-t', 'mnt', '-n', '-o', 'NS'], (err, out) => (err ? reject(err) : resolve(out))),
  );
  const inodes = [...namespaces].map((ns) => /\[(\d+)\]/.exec(ns)?.[1]);
  expect(lsns.split('\n').filter((l) => inodes.includes(l.trim()))).toEqual([]);
  const ours = fs
    .readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(path.join(SIM_DIR, 'nodes'));
      } catch {
        return false;
      }
    });
  expect(ours).toEqual([]);
});
