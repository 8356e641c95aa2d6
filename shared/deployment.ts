/**
 * The shared deployment on loopback: PostgreSQL, the Temporal server (built from go.temporal.io/server
 * with the project's claim mapper and authorizer), the Temporal UI server and worker processes of one
 * or more builds, each a process this module starts, watches and restarts. What should run is the
 * desired state in <dir>/desired.json (builds and their worker counts, components kept down); what
 * runs is <dir>/state.json (PIDs, checked against /proc before any signal). `shared up` starts a
 * supervisor that reconciles the two every second; the CLI's other commands edit the desired state
 * or signal exactly the PIDs recorded.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { isRunning, run, SimError, sleep, startDetached, type StartedProcess, tail } from '../sim/process';
import { createCa, issueCertificate } from '../sim/pki';
import { registerSearchAttributes } from '../src/worker/search-attributes';
import {
  initPostgres,
  PG_USER,
  postgresBinDir,
  postgresCommand,
  postgresDataDir,
  postgresOwner,
  waitForPostgres,
  type PostgresPlan,
} from './postgres';
import {
  DATABASES,
  dynamicConfigYaml,
  envconfigToml,
  serverConfigYaml,
  type ServerPorts,
  uiConfigYaml,
} from './temporal-config';
import { createSigningKey, permissionsOf, ROLES, type Role, signToken } from './tokens';

const REPO = path.resolve(__dirname, '..');
export const DEPLOYMENT_NAME = 'nks-remediation';
const TOKEN_TTL_SECONDS = 30 * 24 * 3600;

export interface Plan {
  dir: string;
  namespace: string;
  clustersFile: string;
  ports: ServerPorts & { postgres: number; ui: number; workerMetricsBase: number };
  postgresDataDir: string;
}

export interface Desired {
  builds: { buildId: string; workers: number }[];
  /** Components not to restart (a worker killed for good). */
  keptDown: string[];
}

export interface State {
  supervisorPid?: number;
  components: Record<string, StartedProcess>;
}

export type ComponentName = 'postgres' | 'temporal' | 'ui' | `worker-${string}`;

export const paths = (dir: string) => ({
  plan: path.join(dir, 'plan.json'),
  desired: path.join(dir, 'desired.json'),
  state: path.join(dir, 'state.json'),
  pki: path.join(dir, 'pki'),
  signingKey: path.join(dir, 'pki', 'token-signing.key'),
  signingPub: path.join(dir, 'pki', 'token-signing.pub'),
  pgPassword: path.join(dir, 'pki', 'postgres.password'),
  serverConfig: path.join(dir, 'server.yaml'),
  dynamicConfig: path.join(dir, 'dynamic-config.yaml'),
  uiRoot: path.join(dir, 'ui'),
  profiles: path.join(dir, 'temporal.toml'),
  bundle: path.join(dir, 'workflow-bundle.js'),
  logs: path.join(dir, 'logs'),
  supervisorLog: path.join(dir, 'logs', 'supervisor.log'),
});

const readJson = <T>(file: string): T | undefined =>
  fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : undefined;

function writeJson(file: string, value: unknown, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode });
  fs.renameSync(tmp, file);
}

export const readPlan = (dir: string) => readJson<Plan>(paths(dir).plan);
export const readState = (dir: string): State => readJson<State>(paths(dir).state) ?? { components: {} };
export const readDesired = (dir: string): Desired =>
  readJson<Desired>(paths(dir).desired) ?? { builds: [], keptDown: [] };
export const writeDesired = (dir: string, desired: Desired) => writeJson(paths(dir).desired, desired);
export const writeState = (dir: string, state: State) => writeJson(paths(dir).state, state);

/**
 * Cluster membership ports are stored as smallint by the server: every port must stay below 32768,
 * which the kernel's ephemeral range (freePorts) does not promise.
 */
async function lowFreePorts(count: number): Promise<number[]> {
  const chosen = new Set<number>();
  while (chosen.size < count) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (chosen.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (free) chosen.add(port);
  }
  return [...chosen];
}

/** The build ID of the current workflow code: a digest of its bundle, so the same code is the same build. */
export function buildIdOf(bundleFile: string): string {
  return createHash('sha256').update(fs.readFileSync(bundleFile)).digest('hex').slice(0, 12);
}

export function sharedBinDir(): string {
  const out = execFileSync('bash', [path.join(REPO, 'shared', 'build', 'build-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop()!;
}

/** Certificates, token key, passwords and config files; an existing state dir keeps its plan and keys. */
export async function prepare(opts: {
  dir: string;
  clustersFile: string;
  namespace?: string;
}): Promise<Plan> {
  const dir = path.resolve(opts.dir);
  const p = paths(dir);
  fs.mkdirSync(p.logs, { recursive: true });
  fs.mkdirSync(p.pki, { recursive: true, mode: 0o700 });
  let plan = readPlan(dir);
  if (!plan) {
    const [
      frontendGrpc,
      frontendHttp,
      frontendMembership,
      internalFrontendGrpc,
      internalFrontendMembership,
      historyGrpc,
      historyMembership,
      matchingGrpc,
      matchingMembership,
      workerGrpc,
      workerMembership,
      metrics,
      postgres,
      ui,
      workerMetricsBase,
    ] = (await lowFreePorts(15)) as [number, ...number[]] as number[];
    plan = {
      dir,
      namespace: opts.namespace ?? 'default',
      clustersFile: path.resolve(opts.clustersFile),
      ports: {
        frontendGrpc: frontendGrpc!,
        frontendHttp: frontendHttp!,
        frontendMembership: frontendMembership!,
        internalFrontendGrpc: internalFrontendGrpc!,
        internalFrontendMembership: internalFrontendMembership!,
        historyGrpc: historyGrpc!,
        historyMembership: historyMembership!,
        matchingGrpc: matchingGrpc!,
        matchingMembership: matchingMembership!,
        workerGrpc: workerGrpc!,
        workerMembership: workerMembership!,
        metrics: metrics!,
        postgres: postgres!,
        ui: ui!,
        workerMetricsBase: workerMetricsBase!,
      },
      postgresDataDir: postgresDataDir(dir),
    };
    // A new plan is a new deployment: a PostgreSQL cluster left by an earlier state dir of the same path is not ours.
    fs.rmSync(plan.postgresDataDir, { recursive: true, force: true });
    writeJson(p.plan, plan);
  } else if (path.resolve(opts.clustersFile) !== plan.clustersFile) {
    plan = { ...plan, clustersFile: path.resolve(opts.clustersFile) };
    writeJson(p.plan, plan);
  }

  const pki = (name: string) => ({
    cert: path.join(p.pki, `${name}.crt`),
    key: path.join(p.pki, `${name}.key`),
  });
  const ca = pki('ca');
  if (!fs.existsSync(ca.cert)) await createCa(ca.cert, ca.key, 'nksr-shared-ca');
  const frontend = pki('frontend');
  if (!fs.existsSync(frontend.cert)) {
    await issueCertificate({
      ca,
      ...frontend,
      subject: '/CN=nksr-temporal-frontend',
      usage: 'server-and-client',
      altNames: ['DNS:localhost', 'IP:127.0.0.1'],
    });
  }
  for (const name of [...ROLES, 'ui']) {
    const c = pki(name);
    if (!fs.existsSync(c.cert))
      await issueCertificate({ ca, ...c, subject: `/CN=nksr-${name}`, usage: 'client' });
  }
  createSigningKey(p.signingKey, p.signingPub);
  if (!fs.existsSync(p.pgPassword)) {
    fs.writeFileSync(
      p.pgPassword,
      createHash('sha256').update(`${Math.random()}${Date.now()}${process.pid}`).digest('hex'),
      {
        mode: 0o600,
      },
    );
  }
  const password = fs.readFileSync(p.pgPassword, 'utf8').trim();
  fs.writeFileSync(
    p.serverConfig,
    serverConfigYaml({
      ports: plan.ports,
      postgres: { port: plan.ports.postgres, user: PG_USER, password },
      tls: { ca: ca.cert, ...frontend },
      dynamicConfigFile: p.dynamicConfig,
    }),
    { mode: 0o600 },
  );
  fs.writeFileSync(p.dynamicConfig, dynamicConfigYaml());
  fs.mkdirSync(path.join(p.uiRoot, 'config'), { recursive: true });
  fs.writeFileSync(
    path.join(p.uiRoot, 'config', 'shared.yaml'),
    uiConfigYaml({
      frontendAddress: `127.0.0.1:${plan.ports.frontendGrpc}`,
      port: plan.ports.ui,
      namespace: plan.namespace,
      tls: { ca: ca.cert, ...pki('ui') },
    }),
  );
  writeProfiles(plan);
  return plan;
}

/** Tokens are reissued on every `up` (they expire in 30 days); the profiles file holds them, 0600. */
function writeProfiles(plan: Plan): void {
  const p = paths(plan.dir);
  const privateKeyPem = fs.readFileSync(p.signingKey, 'utf8');
  const roles: Partial<Record<Role, { cert: string; key: string; token: string }>> = {};
  for (const role of ROLES) {
    roles[role] = {
      cert: path.join(p.pki, `${role}.crt`),
      key: path.join(p.pki, `${role}.key`),
      token: signToken({
        privateKeyPem,
        subject: `nksr-${role}`,
        permissions: permissionsOf(role, plan.namespace),
        ttlSeconds: TOKEN_TTL_SECONDS,
      }),
    };
  }
  fs.writeFileSync(
    p.profiles,
    envconfigToml({
      address: `127.0.0.1:${plan.ports.frontendGrpc}`,
      namespace: plan.namespace,
      ca: path.join(p.pki, 'ca.crt'),
      roles,
    }),
    { mode: 0o600 },
  );
  fs.chmodSync(p.profiles, 0o600);
}

/** Environment for a process that connects as `role` through the profiles file (and nothing else). */
export function roleEnv(dir: string, role: Role, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!k.startsWith('TEMPORAL_')) env[k] = v;
  env.TEMPORAL_CONFIG_FILE = paths(dir).profiles;
  env.TEMPORAL_PROFILE = role;
  return env;
}

export async function connectAs(
  dir: string,
  role: Role,
): Promise<{ connection: Connection; namespace: string }> {
  const { connectionOptions, namespace } = loadClientConnectConfig({
    overrideEnvVars: roleEnv(dir, role) as Record<string, string>,
  });
  const connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' });
  return { connection, namespace: namespace ?? 'default' };
}

function postgresPlan(plan: Plan, binDir = postgresBinDir()): PostgresPlan {
  return {
    binDir,
    dataDir: plan.postgresDataDir,
    port: plan.ports.postgres,
    passwordFile: paths(plan.dir).pgPassword,
    log: path.join(paths(plan.dir).logs, 'postgres.log'),
  };
}

interface Component {
  name: ComponentName;
  binary: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  owner?: { uid: number; gid: number };
  /** SIGINT for PostgreSQL (fast shutdown: SIGTERM would wait for every client to leave). */
  stopSignal: NodeJS.Signals;
}

export class SharedDeployment {
  private readonly p: ReturnType<typeof paths>;
  private timer?: NodeJS.Timeout;
  private reconciling = false;
  private readonly restarts = new Map<string, number>();

  constructor(
    readonly plan: Plan,
    private readonly binDir: string,
    private readonly log: (line: string) => void = (line) => console.log(`[shared] ${line}`),
  ) {
    this.p = paths(plan.dir);
  }

  get frontendAddress(): string {
    return `127.0.0.1:${this.plan.ports.frontendGrpc}`;
  }
  get uiUrl(): string {
    return `http://127.0.0.1:${this.plan.ports.ui}`;
  }

  private components(desired: Desired): Component[] {
    const pg = postgresCommand(postgresPlan(this.plan));
    const out: Component[] = [
      { name: 'postgres', ...pg, env: process.env, owner: postgresOwner(), stopSignal: 'SIGINT' },
      {
        name: 'temporal',
        binary: path.join(this.binDir, 'nksr-temporal-server'),
        args: ['--config-file', this.p.serverConfig],
        env: { ...process.env, NKSR_JWT_PUBLIC_KEY: this.p.signingPub, NKSR_READ_ONLY_CERT_CN: 'nksr-ui' },
        stopSignal: 'SIGTERM',
      },
      {
        name: 'ui',
        binary: path.join(this.binDir, 'temporal-ui-server'),
        args: ['--root', this.p.uiRoot, '--config', 'config', '--env', 'shared', 'start'],
        env: process.env,
        stopSignal: 'SIGTERM',
      },
    ];
    let metricsPort = this.plan.ports.workerMetricsBase;
    for (const build of desired.builds) {
      for (let i = 1; i <= build.workers; i++) {
        out.push({
          name: `worker-${build.buildId}-${i}`,
          binary: process.execPath,
          args: [require.resolve('tsx/cli'), path.join(REPO, 'src', 'worker', 'main.ts')],
          env: {
            ...roleEnv(this.plan.dir, 'worker'),
            NKSR_CLUSTERS_FILE: this.plan.clustersFile,
            NKSR_WORKFLOW_BUNDLE: this.bundleOf(build.buildId),
            NKSR_DEPLOYMENT_NAME: DEPLOYMENT_NAME,
            NKSR_BUILD_ID: build.buildId,
            NKSR_METRICS_PORT: String(metricsPort++),
            NKSR_METRICS_HOST: '127.0.0.1',
            NKSR_SHUTDOWN_GRACE_TIME: '10s',
          },
          stopSignal: 'SIGTERM',
        });
      }
    }
    return out;
  }

  /** Each build runs the bundle it was deployed with; the current code's bundle is written on `deploy`. */
  bundleOf(buildId: string): string {
    return path.join(this.plan.dir, 'builds', `${buildId}.js`);
  }

  private start(c: Component): StartedProcess {
    const started = startDetached({
      name: c.name,
      binary: c.binary,
      args: c.args,
      env: c.env,
      log: path.join(this.p.logs, `${c.name}.log`),
      cwd: REPO,
      owner: c.owner,
    });
    const state = readState(this.plan.dir);
    state.components[c.name] = started;
    writeState(this.plan.dir, state);
    return started;
  }

  private async ensurePostgres(): Promise<void> {
    const pgPlan = postgresPlan(this.plan);
    await initPostgres(pgPlan);
    const running = readState(this.plan.dir).components.postgres;
    if (!running || !isRunning(running)) {
      this.start(this.components(readDesired(this.plan.dir))[0]!);
    }
    await waitForPostgres(pgPlan);
    await this.ensureSchema(pgPlan);
  }

  /** Databases created once; the schema set up on a new database and upgraded to the tool's latest on every start. */
  private async ensureSchema(pgPlan: PostgresPlan): Promise<void> {
    const password = fs.readFileSync(pgPlan.passwordFile, 'utf8').trim();
    const env = { ...process.env, SQL_PASSWORD: password, PGPASSWORD: password };
    const tool = path.join(this.binDir, 'temporal-sql-tool');
    const common = ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(pgPlan.port), '-u', PG_USER];
    for (const [schema, db] of [
      ['temporal', DATABASES.default],
      ['visibility', DATABASES.visibility],
    ] as const) {
      const exists = (
        await run(
          path.join(pgPlan.binDir, 'psql'),
          [
            '-h',
            '127.0.0.1',
            '-p',
            String(pgPlan.port),
            '-U',
            PG_USER,
            '-d',
            'postgres',
            '-tAc',
            `SELECT 1 FROM pg_database WHERE datname = '${db}'`,
          ],
          { env, what: 'psql (database check)' },
        )
      ).trim();
      if (exists !== '1') {
        await run(tool, [...common, '--db', db, 'create-database'], { env, what: `creating database ${db}` });
        await run(tool, [...common, '--db', db, 'setup-schema', '-v', '0.0'], {
          env,
          what: `schema of ${db}`,
        });
        this.log(`database ${db} created`);
      }
      await run(tool, [...common, '--db', db, 'update-schema', '--schema-name', `postgresql/v12/${schema}`], {
        env,
        what: `upgrading the schema of ${db}`,
        timeoutMs: 300_000,
      });
    }
  }

  private async waitForTemporal(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const server = readState(this.plan.dir).components.temporal;
      if (server && !isRunning(server)) {
        throw new SimError(`the Temporal server exited:\n${tail(server.log, 15)}`);
      }
      try {
        const { connection } = await connectAs(this.plan.dir, 'admin');
        try {
          await connection.workflowService.getSystemInfo({});
          await connection.workflowService.describeNamespace({ namespace: 'temporal-system' });
          return;
        } finally {
          await connection.close();
        }
      } catch (err) {
        last = (err as Error).message;
        await sleep(500);
      }
    }
    throw new SimError(`the Temporal server did not become ready in ${timeoutMs / 1000}s: ${last}`);
  }

  private async ensureNamespace(): Promise<void> {
    const { connection } = await connectAs(this.plan.dir, 'admin');
    try {
      const namespace = this.plan.namespace;
      try {
        await connection.workflowService.describeNamespace({ namespace });
      } catch {
        await connection.workflowService.registerNamespace({
          namespace,
          workflowExecutionRetentionPeriod: msToTs('7 days'),
        });
        this.log(`namespace ${namespace} registered`);
        // The frontend's namespace cache refreshes on its own schedule.
        for (let i = 0; i < 60; i++) {
          try {
            await connection.workflowService.describeNamespace({ namespace });
            break;
          } catch {
            await sleep(500);
          }
        }
      }
      // History and the system workers learn of a new namespace on their cache's next refresh.
      const deadline = Date.now() + 90_000;
      for (;;) {
        try {
          const added = await registerSearchAttributes(connection, namespace);
          if (added.length > 0) this.log(`search attributes registered: ${added.join(', ')}`);
          break;
        } catch (err) {
          if (Date.now() > deadline || (err as { code?: number }).code !== 5) throw err;
          await sleep(1000);
        }
      }
    } finally {
      await connection.close();
    }
  }

  private async waitForUi(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(this.uiUrl);
        if (res.ok) return;
      } catch {
        /* not listening yet */
      }
      await sleep(300);
    }
    throw new SimError(`the Temporal UI did not answer at ${this.uiUrl}`);
  }

  /** Starts whatever is not running (in order, each ready before the next) and returns when all are. */
  async up(): Promise<void> {
    await this.ensurePostgres();
    const desired = readDesired(this.plan.dir);
    const all = this.components(desired);
    const ensure = (name: string) => {
      const running = readState(this.plan.dir).components[name];
      if (!running || !isRunning(running)) this.start(all.find((c) => c.name === name)!);
    };
    ensure('temporal');
    await this.waitForTemporal();
    await this.ensureNamespace();
    ensure('ui');
    await this.waitForUi();
    for (const c of all.filter((x) => x.name.startsWith('worker-'))) {
      if (!desired.keptDown.includes(c.name)) ensure(c.name);
    }
    await this.waitForWorkers(desired);
  }

  /** A worker is ready once it has logged the line it prints after connecting and registering. */
  async waitForWorkers(desired: Desired, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const workers = this.components(desired).filter(
      (c) => c.name.startsWith('worker-') && !desired.keptDown.includes(c.name),
    );
    for (const w of workers) {
      for (;;) {
        const proc = readState(this.plan.dir).components[w.name];
        if (
          proc &&
          fs.existsSync(proc.log) &&
          fs.readFileSync(proc.log, 'utf8').includes('nksr worker: task queue')
        )
          break;
        if (proc && !isRunning(proc)) throw new SimError(`${w.name} exited:\n${tail(proc.log, 15)}`);
        if (Date.now() > deadline) throw new SimError(`${w.name} did not start in ${timeoutMs / 1000}s`);
        await sleep(300);
      }
    }
  }

  /**
   * Every second: restart a component that died (unless kept down), start workers of a newly
   * desired build, stop workers of a retired one. A component that keeps dying is restarted with
   * a growing delay, so a broken config does not spin.
   */
  supervise(): void {
    this.timer = setInterval(() => {
      if (this.reconciling) return;
      this.reconciling = true;
      this.reconcile()
        .catch((err: unknown) => this.log(`reconcile: ${(err as Error).message}`))
        .finally(() => (this.reconciling = false));
    }, 1000);
  }

  private async reconcile(): Promise<void> {
    const desired = readDesired(this.plan.dir);
    const wanted = this.components(desired);
    const state = readState(this.plan.dir);
    for (const c of wanted) {
      if (desired.keptDown.includes(c.name)) continue;
      const proc = state.components[c.name];
      if (proc && isRunning(proc)) continue;
      const attempt = (this.restarts.get(c.name) ?? 0) + 1;
      this.restarts.set(c.name, attempt);
      if (attempt > 1) await sleep(Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)));
      this.log(proc ? `${c.name} is not running; restarting it (attempt ${attempt})` : `starting ${c.name}`);
      if (c.name === 'postgres') {
        this.start(c);
        await waitForPostgres(postgresPlan(this.plan)).catch(() => undefined);
      } else this.start(c);
    }
    // Healthy for a while: forget the restart count.
    for (const name of this.restarts.keys()) {
      const proc = readState(this.plan.dir).components[name];
      if (proc && isRunning(proc) && Date.now() - fs.statSync(`/proc/${proc.pid}`).mtimeMs > 30_000)
        this.restarts.delete(name);
    }
    const wantedNames = new Set(wanted.map((c) => c.name));
    for (const [name, proc] of Object.entries(state.components)) {
      if (!wantedNames.has(name as ComponentName) && name.startsWith('worker-')) {
        if (isRunning(proc)) {
          this.log(`stopping ${name} (its build is retired)`);
          await stopProcess(proc, 'SIGTERM');
        }
        const s = readState(this.plan.dir);
        delete s.components[name];
        writeState(this.plan.dir, s);
      }
    }
  }

  /** Workers first (they drain), then the UI, the server and PostgreSQL last. */
  async down(): Promise<string[]> {
    if (this.timer) clearInterval(this.timer);
    while (this.reconciling) await sleep(50);
    const state = readState(this.plan.dir);
    const order = (name: string) =>
      name.startsWith('worker-') ? 0 : name === 'ui' ? 1 : name === 'temporal' ? 2 : 3;
    const stuck: string[] = [];
    const groups = [0, 1, 2, 3].map((o) =>
      Object.values(state.components).filter((p) => order(p.name) === o),
    );
    for (const group of groups) {
      await Promise.all(
        group.map(async (proc) => {
          if (!(await stopProcess(proc, proc.name === 'postgres' ? 'SIGINT' : 'SIGTERM')))
            stuck.push(proc.name);
        }),
      );
    }
    writeState(this.plan.dir, { components: {} } satisfies State);
    return stuck;
  }
}

/** Signal, wait, then SIGKILL after the grace time; true when the process is gone. */
export async function stopProcess(
  proc: StartedProcess,
  signal: NodeJS.Signals,
  graceMs = 20_000,
): Promise<boolean> {
  if (!isRunning(proc)) return true;
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-proc.pid, sig);
    } catch {
      try {
        process.kill(proc.pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  group(signal);
  const deadline = Date.now() + graceMs;
  while (isRunning(proc) && Date.now() < deadline) await sleep(100);
  if (isRunning(proc)) group('SIGKILL');
  for (let i = 0; i < 50 && isRunning(proc); i++) await sleep(100);
  return !isRunning(proc);
}

/** SIGKILL of one component's process group, as a crash would. */
export function killComponent(dir: string, name: string): StartedProcess {
  const proc = readState(dir).components[name];
  if (!proc || !isRunning(proc)) throw new SimError(`${name} is not running`);
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    process.kill(proc.pid, 'SIGKILL');
  }
  return proc;
}
