/**
 * The SDK as another service uses it: the package is built (`npm run build`: dist/ with type
 * declarations), examples/remediation-service is compiled by tsc against that build (installed as
 * `nks-remediation` through a node_modules link, as `npm install ../..` would) and run against the dev
 * server and the simulator: it starts logrotateSync, logs progress while waiting, and ends with the outcome.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/dev/temporal-binaries';
import { type RunningWorker, simAvailable, startWorker, useSharedSim } from './helpers';

useSharedSim();

const run = promisify(execFile);
const maybe = simAvailable() ? describe : describe.skip;
jest.setTimeout(300_000);

const EXAMPLE = join(REPO_ROOT, 'examples', 'remediation-service');

maybe('examples/remediation-service', () => {
  let worker: RunningWorker;

  beforeAll(async () => {
    worker = await startWorker();
  });

  afterAll(async () => {
    await worker?.stop();
  });

  test('builds against the package’s dist/ and runs a remediation to its end', async () => {
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT });
    expect(existsSync(join(REPO_ROOT, 'dist', 'src', 'client', 'index.d.ts'))).toBe(true);
    // A service that starts and watches remediations does not load the worker package and its native
    // core (only `nksr audit`'s replay check needs them, and loads them then).
    const { stdout: workerModules } = await run(
      process.execPath,
      [
        '-e',
        "require('./dist/src/client/index.js'); console.log(Object.keys(require.cache).filter((k) => /@temporalio[\\/\\\\](worker|core-bridge)[\\/\\\\]/.test(k)).length)",
      ],
      { cwd: REPO_ROOT },
    );
    expect(workerModules.trim()).toBe('0');

    const link = join(EXAMPLE, 'node_modules', 'nks-remediation');
    mkdirSync(join(EXAMPLE, 'node_modules'), { recursive: true });
    rmSync(link, { force: true });
    symlinkSync(REPO_ROOT, link, 'dir');
    rmSync(join(EXAMPLE, 'dist'), { recursive: true, force: true });
    await run(process.execPath, [tsc, '-p', '.'], { cwd: EXAMPLE });

    const { stdout, stderr } = await run(process.execPath, [join('dist', 'main.js'), 'sim'], {
      cwd: EXAMPLE,
      env: { ...process.env, NKSR_TASK_QUEUE: worker.taskQueue },
      timeout: 180_000,
    });
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^(started|joined the run already going:) nks\/sim\/logrotateSync$/m);
    expect(stdout).toMatch(/^phase \S+: \d+\/\d+ items finished$/m);
    expect(stdout).toMatch(/^outcome complete: \{.*"failed":0/m);
  });
});
