/**
 * The guide's own sync_logrotate.sh (bench/guide/, extracted unchanged) against a fresh simulator whose
 * nodes drift (by default node 2 has no /etc/logrotate.d/docker, node 4 another version). It is given
 * only what the guide tells the operator to copy next to it: kubeconfig.yaml, keypair.pem and
 * docker_logrotate_config, with kubectl on PATH. This is the baseline later benchmarks compare with.
 *
 * Own simulator at the run's `guide-sync` place (sim/testing.ts testSimPlace): the script changes
 * node files, and the drift must be fresh.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simDown, simUp, type SimHandle } from '../../sim';
import { simPaths } from '../../sim/nodes';
import { testSimPlace } from '../../sim/testing';
import { useSharedSim } from './helpers';

useSharedSim();

const REPO = path.resolve(__dirname, '../..');
const GUIDE = path.join(REPO, 'bench', 'guide');
const { dir: SIM_DIR, ipPrefix: IP_PREFIX } = testSimPlace('guide-sync');

jest.setTimeout(180_000);

let sim: SimHandle;
let work: string;
let scratchHome: string;

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { ...opts, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The remote file's md5 per node IP, read with host keys verified (unlike the script). */
async function remoteHashes(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of sim.nodes) {
    const r = await sh('ssh', [
      '-F',
      '/dev/null',
      '-i',
      simPaths(SIM_DIR).privateKey,
      '-o',
      `UserKnownHostsFile=${simPaths(SIM_DIR).knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'BatchMode=yes',
      `centos@${n.ip}`,
      'md5sum /etc/logrotate.d/docker 2>/dev/null || echo absent',
    ]);
    if (r.code !== 0) throw new Error(`ssh ${n.ip}: ${r.stderr}`);
    out[n.ip] = r.stdout.trim().split(/\s+/)[0] ?? '';
  }
  return out;
}

/**
 * Runs the script from its work dir as the guide's cron line would, but in a private mount namespace
 * with a scratch dir over the invoking user's home: its `ssh -o StrictHostKeyChecking=no` (and kubectl's
 * cache) write there instead of this machine's ~/.ssh/known_hosts.
 */
function runScript() {
  const home = os.userInfo().homedir;
  return sh(
    'unshare',
    [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$0" "$1" && exec ./sync_logrotate.sh',
      scratchHome,
      home,
    ],
    {
      cwd: work,
      env: { ...process.env, PATH: `${path.dirname(sim.kubectlPath)}:${process.env.PATH ?? ''}` },
    },
  );
}

beforeAll(async () => {
  await simDown({ dir: SIM_DIR }).catch(() => undefined);
  sim = await simUp({ dir: SIM_DIR, ipPrefix: IP_PREFIX, nodes: 5, runtime: 'docker' });
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'nksr-guide-logrotate-'));
  scratchHome = fs.mkdtempSync(path.join(os.tmpdir(), 'nksr-guide-home-'));
  // The guide's set-up: "cp /path/to/my/kubeconfig/file kubeconfig.yaml" and so on.
  fs.copyFileSync(sim.kubeconfigPath, path.join(work, 'kubeconfig.yaml'));
  fs.copyFileSync(simPaths(SIM_DIR).privateKey, path.join(work, 'keypair.pem'));
  fs.chmodSync(path.join(work, 'keypair.pem'), 0o600);
  fs.copyFileSync(path.join(GUIDE, 'docker_logrotate_config'), path.join(work, 'docker_logrotate_config'));
  fs.copyFileSync(path.join(GUIDE, 'sync_logrotate.sh'), path.join(work, 'sync_logrotate.sh'));
  fs.chmodSync(path.join(work, 'sync_logrotate.sh'), 0o755);
});

afterAll(async () => {
  await simDown({ dir: SIM_DIR });
  for (const d of [work, scratchHome]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

test("the guide's sync_logrotate.sh syncs the drifted nodes of a fresh simulator", async () => {
  const wanted = createHash('md5')
    .update(fs.readFileSync(path.join(GUIDE, 'docker_logrotate_config')))
    .digest('hex');
  const before = await remoteHashes();
  const drifted = Object.keys(before).filter((ip) => before[ip] !== wanted);
  console.log(`before: ${JSON.stringify(before)}; drifted: ${drifted.join(' ')}`);
  expect(drifted.length).toBeGreaterThanOrEqual(2);

  const realKnownHosts = path.join(os.userInfo().homedir, '.ssh', 'known_hosts');
  const readReal = () => (fs.existsSync(realKnownHosts) ? fs.readFileSync(realKnownHosts, 'utf8') : null);
  const realBefore = readReal();

  const t0 = Date.now();
  const run = await runScript();
  const ms = Date.now() - t0;
  console.log(`sync_logrotate.sh exit ${run.code} in ${ms} ms\n${run.stdout}${run.stderr}`);
  expect(run.code).toBe(0);

  const changed = [
    ...run.stdout.matchAll(/Copy done\.\.\. New hash of \/etc\/logrotate\.d\/docker@(\S+) = (\w+)/g),
  ].map((m) => ({ ip: m[1], hash: m[2] }));
  console.log(`the script changed: ${changed.map((c) => c.ip).join(' ')}`);
  expect(changed.map((c) => c.ip).sort()).toEqual([...drifted].sort());
  expect(changed.every((c) => c.hash === wanted)).toBe(true);

  const after = await remoteHashes();
  expect(Object.values(after)).toEqual(sim.nodes.map(() => wanted));

  // A second run finds nothing to do.
  const again = await runScript();
  expect(again.code).toBe(0);
  expect(again.stdout).toMatch(/Logrotate configurations are up to date on all worker nodes/);
  // It wrote the nodes' keys into the scratch home, and this machine's known_hosts was left alone.
  expect(
    fs
      .readFileSync(path.join(scratchHome, '.ssh', 'known_hosts'), 'utf8')
      .trim()
      .split('\n'),
  ).toHaveLength(5);
  expect(readReal()).toBe(realBefore);
});
