/**
 * Worker processes shared by the benchmarks and the tests that need a worker they can SIGKILL: each
 * worker is `src/worker/main.ts` in its own Node process (as a user runs it), so its peak RSS is its
 * own and a kill is a real one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { REPO_ROOT } from '../src/dev/temporal-binaries';

export interface WorkerProcess {
  child: ChildProcess;
  /** The identity Temporal records for its polls (the SDK's default: `pid@host`). */
  identity: string;
  /** Peak resident set of the process so far, in bytes (the kernel's VmHWM), sampled every second. */
  peakRssBytes(): number;
  /** SIGKILL, at once. */
  kill(): void;
  /** SIGTERM and wait for the exit (the worker drains within its grace time). */
  stop(): Promise<void>;
}

function vmHwmBytes(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface StartWorkerProcessOptions {
  address: string;
  namespace?: string;
  taskQueue: string;
  clustersFile: string;
  /** A prebuilt workflow bundle (bundle-workflows.ts): saves every worker its own webpack run. */
  workflowBundlePath?: string;
  /** Resolves once the worker polls (its start-up line); rejects after this long. */
  startTimeoutMs?: number;
}

export function startWorkerProcess(opts: StartWorkerProcessOptions): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: opts.address,
      TEMPORAL_NAMESPACE: opts.namespace ?? 'default',
      NKSR_TASK_QUEUE: opts.taskQueue,
      NKSR_CLUSTERS_FILE: opts.clustersFile,
      NKSR_METRICS_PORT: '0',
      NKSR_SHUTDOWN_GRACE_TIME: '2s',
      NKSR_LOG_LEVEL: 'WARN',
      ...(opts.workflowBundlePath ? { NKSR_WORKFLOW_BUNDLE: opts.workflowBundlePath } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let peak = 0;
  const sample = () => {
    if (child.pid !== undefined) peak = Math.max(peak, vmHwmBytes(child.pid) ?? 0);
  };
  const sampler = setInterval(sample, 1000);
  sampler.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => clearInterval(sampler));
  const wp: WorkerProcess = {
    child,
    identity: `${child.pid}@${hostname()}`,
    peakRssBytes: () => {
      sample();
      return peak;
    },
    kill: () => {
      sample();
      child.kill('SIGKILL');
    },
    stop: async () => {
      sample();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `worker did not start within ${opts.startTimeoutMs ?? 120_000} ms: ${out.slice(-2000) || '(no output)'}`,
        ),
      );
    }, opts.startTimeoutMs ?? 120_000);
    const onData = (b: Buffer) => {
      out = (out + b.toString()).slice(-20_000);
      if (/clusters from/.test(out)) {
        clearTimeout(timer);
        resolve(wp);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-20_000)));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code ?? signal}): ${out.slice(-2000)}`));
    });
  });
}
