/**
 * The dashboard in a real browser: Debian's Chromium (never downloaded)
 * driven by puppeteer-core, headless, against a cluster of worker processes
 * running a workload. Screenshots of every page go to this test's fixture
 * directory (kept under .tap/fixtures).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { Client, LocalCluster } from '../dist/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface DashboardState {
  page: string;
  updates: number;
  connected: boolean;
  rectangles: number;
  drawnKeys: string[];
  progress: Record<string, { done: number; total: number; percent: number; erred: number }>;
  memoryWorkers: Array<{ address: string; managed: number; rss: number; limit: number; status: string }>;
  graphNodes: number;
}

async function launch(dir: string): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`,
    ],
  });
}

/** Everything a page says went wrong: console errors, uncaught exceptions, failed requests. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${String(error)}`));
  page.on('requestfailed', (request) => errors.push(`request: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  return errors;
}

const dashboardState = (page: Page): Promise<DashboardState> => page.evaluate(() => (window as unknown as { dashboardState: DashboardState }).dashboardState);

function busy(x: number): number {
  const until = Date.now() + 5;
  while (Date.now() < until);
  return x + 1;
}

t.test('the dashboard pages in Chromium while a workload runs', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)` }, async (t) => {
  t.saveFixture = true;
  const dir = t.testdir();
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 2, processes: true, memoryLimit: '2GB' });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const browser = await launch(dir);
  t.teardown(() => browser.close());

  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  const errors = watchErrors(page);
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });
  await page.goto(client.dashboardLink!, { waitUntil: 'load' });
  await page.waitForFunction(() => (window as unknown as { dashboardState: DashboardState }).dashboardState.connected);

  // The workload starts after the page is open: everything it shows arrives pushed.
  const incs = client.map(busy, Array.from({ length: 120 }, (_, i) => i));
  const total = client.submit((values: number[]) => values.reduce((a, b) => a + b, 0), incs);
  const failing = client.submit(function fails() {
    throw new Error('on purpose');
  });
  t.equal(await total.result(), (120 * 121) / 2);
  await failing.exception();

  await page.waitForFunction(
    () => {
      const s = (window as unknown as { dashboardState: DashboardState }).dashboardState;
      return s.progress.busy?.percent === 100 && s.progress.lambda?.percent === 100 && s.progress.fails?.erred === 1;
    },
    { timeout: 30_000 },
  );
  const state = await dashboardState(page);
  t.ok(state.rectangles >= 122, `the task stream drew a rectangle per task that ran (${state.rectangles})`);
  for (const f of [...incs, total, failing]) t.ok(state.drawnKeys.includes(f.key), `drawn: ${f.key}`);
  t.same(Object.keys(state.progress).sort(), ['busy', 'fails', 'lambda']);
  t.equal(state.progress.busy!.done, 120);
  t.same(state.memoryWorkers.map((w) => w.address).sort(), [...cluster.workerAddresses].sort(), 'a memory bar per worker');
  for (const w of state.memoryWorkers) {
    t.ok(w.rss > 0, `RSS of ${w.address} reported`);
    t.equal(w.limit, 2e9);
  }
  t.equal(await page.$eval('#progress-text li[data-prefix="busy"]', (li) => li.getAttribute('data-percent')), '100', 'the progress text says 100%');
  t.equal(await page.$eval('#task-states td[data-state="erred"]', (td) => td.textContent), '1');

  // Updates keep coming without reloading the page.
  const before = state.updates;
  await page.waitForFunction((n: number) => (window as unknown as { dashboardState: DashboardState }).dashboardState.updates >= n + 3, {}, before);
  t.equal(navigations, 1, 'the page never reloaded');
  await page.screenshot({ path: join(dir, 'status.png'), fullPage: true });

  // The other pages.
  const workersPage = await browser.newPage();
  const workerErrors = watchErrors(workersPage);
  await workersPage.goto(client.dashboardLink!.replace(/\/status$/, '/workers'), { waitUntil: 'load' });
  await workersPage.waitForFunction(() => document.querySelectorAll('#workers-table tbody tr').length === 2);
  await workersPage.waitForFunction(() => !document.querySelector('#workers-table tbody')!.textContent!.includes('—'), { timeout: 10_000 });
  const rows = await workersPage.$$eval('#workers-table tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-worker')));
  t.same(rows.sort(), [...cluster.workerAddresses].sort());
  await workersPage.screenshot({ path: join(dir, 'workers.png'), fullPage: true });

  const graphPage = await browser.newPage();
  const graphErrors = watchErrors(graphPage);
  await graphPage.goto(client.dashboardLink!.replace(/\/status$/, '/graph'), { waitUntil: 'load' });
  await graphPage.waitForFunction(() => (window as unknown as { dashboardState: DashboardState }).dashboardState.graphNodes >= 122);
  t.match(await graphPage.$eval('#graph-note', (p) => p.textContent), /^12\d tasks, 120 dependencies\.$/);
  await graphPage.screenshot({ path: join(dir, 'graph.png'), fullPage: true });

  const infoPage = await browser.newPage();
  const infoErrors = watchErrors(infoPage);
  const address = cluster.workerAddresses[0]!;
  await infoPage.goto(`${client.dashboardLink!.replace(/\/status$/, '')}/info/worker/${encodeURIComponent(address)}`, { waitUntil: 'load' });
  await infoPage.waitForFunction(() => document.querySelectorAll('#info-table tr').length > 5);
  t.match(await infoPage.$eval('#info-table', (table) => table.textContent), address);
  await infoPage.screenshot({ path: join(dir, 'info.png'), fullPage: true });

  t.same([...errors, ...workerErrors, ...graphErrors, ...infoErrors], [], 'no console errors on any page');
  t.ok(existsSync(join(dir, 'status.png')) && existsSync(join(dir, 'graph.png')));
  t.comment(`screenshots in ${dir}`);
});
