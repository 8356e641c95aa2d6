/**
 * The Temporal UI, in a real browser: headless Chromium (Debian's, driven by playwright-core) opens
 * the dev server's UI, filters the workflow list by the `NksCluster` search attribute, opens runs and
 * checks what an operator reads there. One run is started through the SDK (as `nksr run` does: static
 * summary and details), one through the Temporal CLI (no static metadata: the current details, kept by
 * the workflow itself, are what tells the operator what runs where). Screenshots go to
 * .tmp/test-output/temporal-ui/ (gitignored); docs/temporal-ui-current-details.png is one of them.
 *
 * The suite's dev server runs without the UI, so this file starts one of its own (free ports), with a
 * worker of its own on the simulator of the suite.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createNksClient, type NksClient } from '../../src/client/sdk';
import { startDevServer, type DevServer } from '../../src/dev/dev-server';
import { ensureTemporalBinary, REPO_ROOT } from '../../src/dev/temporal-binaries';
import { progressQuery } from '../../src/workflows/definitions';
import { loadClusterRegistry, registryFromEntries } from '../../src/worker/registry';
import {
  closedPort,
  requiredEnv,
  type RunningWorker,
  simAvailable,
  startWorker,
  useSharedSim,
} from './helpers';

useSharedSim();

const maybe = simAvailable() ? describe : describe.skip;
const CHROMIUM = process.env.NKSR_CHROMIUM ?? '/usr/bin/chromium';
const OUT = join(REPO_ROOT, '.tmp', 'test-output', 'temporal-ui');
const execFileP = promisify(execFile);

let server: DevServer;
let worker: RunningWorker;
let nks: NksClient;
let browser: Browser;
let page: Page;
const started: string[] = [];

/** Polls `read` until its text matches every pattern (the UI renders asynchronously). */
async function waitForMatch(what: string, read: () => Promise<string>, patterns: RegExp[]): Promise<string> {
  const until = Date.now() + 30_000;
  for (;;) {
    const text = await read().catch(() => '');
    if (patterns.every((p) => p.test(text))) return text;
    if (Date.now() > until)
      throw new Error(`${what} never showed ${patterns.filter((p) => !p.test(text)).join(', ')}:\n${text}`);
    await page.waitForTimeout(500);
  }
}

const mainText = (patterns: RegExp[]) =>
  waitForMatch('the page', () => page.locator('main').innerText(), patterns);

/**
 * One box of the run's User Metadata tab as rendered: the UI renders each markdown text in an
 * iframe of its own (#user-metadata-summary, -details, -current-details).
 */
const metadata = (box: 'summary' | 'details' | 'current-details', patterns: RegExp[]) =>
  waitForMatch(
    box,
    async () =>
      (await page.frameLocator(`#user-metadata-${box}`).locator('body').innerText())
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .join('\n'),
    patterns,
  );

async function waitForApprovalGate(workflowId: string): Promise<void> {
  const handle = nks.client.workflow.getHandle(workflowId);
  const until = Date.now() + 90_000;
  while (!(await handle.query(progressQuery).catch(() => undefined))?.awaitingApproval) {
    if (Date.now() > until) throw new Error(`${workflowId} never reached the approval gate`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const userMetadataTab = () => page.getByRole('tab', { name: 'User Metadata' });

/** From the filtered list: the run's page, tab User Metadata. */
async function openUserMetadata(workflowId: string): Promise<void> {
  await page.getByRole('link', { name: workflowId, exact: true }).click();
  await userMetadataTab().click();
  await mainText([/Current Details/]);
}

maybe('the Temporal UI in a real browser', () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (scripts/setup.sh does)`);
    mkdirSync(OUT, { recursive: true });
    server = await startDevServer({ ui: true, port: await closedPort(), uiPort: await closedPort() });
    const sim = loadClusterRegistry(requiredEnv('NKSR_CLUSTERS_FILE')).get('sim');
    worker = await startWorker({
      address: server.address,
      // A second name for the same cluster: runs the NksCluster filter must leave out.
      registry: registryFromEntries({ sim, 'sim-other': sim }),
    });
    nks = await createNksClient({ address: server.address, taskQueue: worker.taskQueue });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in CI containers: Chromium's sandbox needs user namespaces it does not get there.
      args: ['--no-sandbox'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });

  afterAll(async () => {
    await browser?.close();
    for (const id of started)
      await nks?.client.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined);
    await nks?.close();
    await worker?.stop();
    await server?.stop();
  });

  test('a run started by nksr/SDK and one started by the Temporal CLI: found by NksCluster, summary and current details shown', async () => {
    // nksr/SDK start: static summary and details, then the workflow waits for approval.
    const sdkRun = await nks.start.calicoImageRepair(
      { cluster: 'sim', requireApproval: true },
      { requestedBy: 'ops-kim' },
    );
    started.push(sdkRun.workflowId);
    // Temporal CLI start: only the input; whatever the UI shows besides comes from the workflow.
    const cliRunId = 'nks/sim/cinderRescanOnResize';
    await execFileP(ensureTemporalBinary('temporal').path!, [
      'workflow',
      'start',
      '--address',
      server.address,
      '--namespace',
      'default',
      '--task-queue',
      worker.taskQueue,
      '--type',
      'cinderRescanOnResize',
      '--workflow-id',
      cliRunId,
      '--input',
      JSON.stringify({ cluster: 'sim', requireApproval: true }),
    ]);
    started.push(cliRunId);
    // Another cluster's run, finished: the filter must leave it out.
    await nks.execute.clusterPreflight({ cluster: 'sim-other' });
    await waitForApprovalGate(sdkRun.workflowId);
    await waitForApprovalGate(cliRunId);

    // The list, filtered by the search attribute through the URL's query (as the UI's filter writes it).
    const listUrl = `${server.uiUrl}/namespaces/default/workflows?query=${encodeURIComponent('NksCluster="sim"')}`;
    await page.goto(listUrl);
    const list = await mainText([/nks\/sim\/calicoImageRepair/, /nks\/sim\/cinderRescanOnResize/]);
    expect(list).toMatch(/NksCluster = "sim"/);
    expect(list).not.toMatch(/sim-other/);
    await page.screenshot({ path: join(OUT, 'list-nkscluster-sim.png') });

    // The nksr/SDK run: summary and details from the start, current details from the workflow.
    await openUserMetadata(sdkRun.workflowId);
    expect(await metadata('summary', [/\S/])).toBe('calicoImageRepair on cluster sim');
    expect(await metadata('details', [/Requested by/])).toMatch(
      /calicoImageRepair on cluster sim\s+Requested by ops-kim via nksr/,
    );
    const sdkCurrent = await metadata('current-details', [/Phase:/]);
    expect(sdkCurrent).toMatch(/^calicoImageRepair on cluster sim$/m);
    expect(sdkCurrent).toMatch(/^Phase: awaiting-approval — waiting for nksr approve$/m);
    expect(sdkCurrent).toMatch(/^Nodes: 5 succeeded$/m);
    expect(sdkCurrent).toMatch(/^Resources: 3 pending$/m);
    expect(sdkCurrent).toMatch(/pre-pull 4 images on 5 nodes, then roll calico-node/);
    // The command to send, whole (an unescaped `<workflowId>` once vanished as an HTML tag).
    expect(sdkCurrent).toMatch(
      /\(plan sha256 [0-9a-f]{12}; send: nksr approve nks\/sim\/calicoImageRepair; expires in 24h\)/,
    );
    await page.screenshot({ path: join(OUT, 'calico-sdk-user-metadata.png') });
    // The two boxes only (docs/temporal-ui-user-metadata.png is this one).
    await page
      .locator('div:has(> [data-testid="user-metadata"])')
      .screenshot({ path: join(OUT, 'calico-sdk-user-metadata-boxes.png') });

    // The Temporal CLI run: no summary of its own, the current details still say what runs where.
    await page.goto(listUrl);
    await mainText([/nks\/sim\/cinderRescanOnResize/]);
    await openUserMetadata(cliRunId);
    const cliCurrent = await metadata('current-details', [/Phase:/]);
    expect(cliCurrent).toMatch(/^cinderRescanOnResize on cluster sim$/m);
    expect(cliCurrent).toMatch(/^Phase: awaiting-approval — waiting for nksr approve$/m);
    expect(cliCurrent).toMatch(/rescan-on-resize/);
    expect(cliCurrent).toMatch(/send: nksr approve nks\/sim\/cinderRescanOnResize/);
    await page.screenshot({ path: join(OUT, 'cinder-cli-user-metadata.png') });

    // Kept up to date by the workflow: after a cancellation, the page reloaded shows the new phase.
    await nks.client.workflow.getHandle(cliRunId).cancel();
    await nks.client.workflow
      .getHandle(cliRunId)
      .result()
      .catch(() => undefined);
    await page.reload();
    await userMetadataTab().click();
    expect(await metadata('current-details', [/Phase: cancelled/])).toMatch(/^Phase: cancelled$/m);
    await page.screenshot({ path: join(OUT, 'cinder-cli-cancelled.png') });
  });
});
