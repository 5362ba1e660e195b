/**
 * What a scheduler restart leaves behind for people and programs: the
 * dashboard says what happened (restored state, workers re-registered with
 * their keys and retries, clients reconnected), and a client's topic
 * subscriptions are sent again, so events logged after the restart reach it.
 * Real processes, a real SIGKILL, the same port again.
 */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { Client, Queue, Variable } from '../dist/index.js';
import { CliProcess, unusedPort } from './fixtures/cli-process.js';
import { eventually, startScheduler, quietEnv as env } from './fixtures/survive.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

t.test('a client subscribed to a topic still gets its events after the scheduler is killed and started again', async (t) => {
  const port = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  let scheduler = await startScheduler(port, ['--no-dashboard']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const workers = new CliProcess('dworker', [address, '--nthreads', '1', '--death-timeout', '30s'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m);

  const subscriber = await Client.connect(address, { reconnectTimeout: '30s' });
  t.teardown(() => subscriber.close());
  const received: unknown[] = [];
  await subscriber.subscribeTopic('news', (_time, msg) => void received.push(msg));
  const before = await Client.connect(address, { reconnectTimeout: 0 });
  await before.logEvent('news', 'before the restart');
  await before.close();
  t.ok(await eventually(() => (received.includes('before the restart') ? true : undefined)), 'delivered before the restart');

  await scheduler.stop('SIGKILL');
  scheduler = await startScheduler(port, ['--no-dashboard']);
  // A call waits for the reconnection, which re-subscribes first.
  await subscriber.waitForWorkers(1, { timeout: '20s' });

  const other = await Client.connect(address, { reconnectTimeout: 0 });
  t.teardown(() => other.close());
  await other.logEvent('news', 'from a client after the restart');
  // And from a task on the worker that came back (through its own client).
  await other.submit(async () => {
    const dts = await import('distributed-ts');
    await dts.getClient().logEvent('news', 'from a task after the restart');
  }).result();
  const both = await eventually(() =>
    received.includes('from a client after the restart') && received.includes('from a task after the restart') ? true : undefined,
  );
  t.ok(both, `the subscription outlived the restart (received ${JSON.stringify(received)})`);
  t.same((await subscriber.getEvents('news')).map(([, msg]) => msg).sort(), ['from a client after the restart', 'from a task after the restart'],
    'the new scheduler kept what was logged since it started');
});

t.test('the dashboard says what a restart brought back: restored state, workers with their keys and retries, clients', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-report-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await unusedPort();
  const dashboardPort = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  const dashboard = `http://127.0.0.1:${dashboardPort}`;
  const schedulerArgs = ['--state-dir', dir, '--dashboard-address', `:${dashboardPort}`];
  let scheduler = await startScheduler(port, schedulerArgs);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const workers = new CliProcess('dworker', [address, '--nthreads', '1', '--death-timeout', '30s'], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m);

  const client = await Client.connect(address, { reconnectTimeout: '30s' });
  t.teardown(() => client.close());
  const xs = client.map((i: number) => i + 1, [1, 2, 3]);
  t.same(await client.gather(xs), [2, 3, 4]);
  await new Variable<number>('v', { client }).set(1);
  const queue = new Queue<string>('q', { client });
  await queue.put('a');
  await queue.put('b');

  const status = async (): Promise<{ recovery?: Array<{ text: string }> }> => (await fetch(`${dashboard}/json/status.json`)).json() as Promise<{ recovery?: Array<{ text: string }> }>;
  t.same((await status()).recovery, [], 'nothing to report before any restart');

  const browser = existsSync(CHROMIUM)
    ? await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', `--user-data-dir=${join(dir, 'profile')}`] })
    : undefined;
  t.teardown(() => browser?.close());
  const page = await browser?.newPage();
  if (page !== undefined) {
    await page.goto(`${dashboard}/status`, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as { dashboardState: { connected: boolean } }).dashboardState.connected);
  }

  await scheduler.stop('SIGKILL');
  if (page !== undefined) {
    // The page stays open and says that it is knocking.
    await page.waitForFunction(() => /scheduler connection lost, retrying \(\d+\)/.test(document.getElementById('live')?.textContent ?? ''), { timeout: 20_000 });
    const live = await page.$eval('#live', (el) => el.textContent ?? '');
    t.match(live, /scheduler connection lost, retrying \(\d+\)/, 'while the scheduler is away the page says so and counts its retries');
  }
  // Long enough for the worker to be refused a few times.
  await eventually(() => (/scheduler connection lost, retrying \(2\)/.test(workers.stderr) ? true : undefined));
  scheduler = await startScheduler(port, schedulerArgs);
  await client.waitForWorkers(1, { timeout: '20s' });
  t.same(await client.gather(xs), [2, 3, 4]);

  const texts = await eventually(async () => {
    const notes = (await status()).recovery ?? [];
    const all = notes.map((note) => note.text);
    return all.some((s) => s.startsWith('worker')) && all.some((s) => s.startsWith('client')) ? all : undefined;
  });
  t.ok(texts, 'the status JSON lists the recovery');
  const lines = texts ?? [];
  t.ok(lines.some((s) => /^restored state: 1 variable, 1 queue \(2 items\)/.test(s)), `restored state is reported (${JSON.stringify(lines)})`);
  t.ok(lines.some((s) => /^worker tcp:\/\/\S+ re-registered with 3 keys after [1-9]\d* retr(y|ies) \(/.test(s)), 'the worker, its keys and its retries');
  t.ok(lines.some((s) => new RegExp(`^client ${client.id} reconnected to a restarted scheduler after [1-9]\\d* retr`).test(s)), 'the client and its retries');
  const events = (await client.getEvents('recovery')).map(([, msg]) => (msg as { action: string }).action);
  t.ok(events.includes('restored-state') && events.includes('worker-reregistered') && events.includes('client-reconnected'),
    'the same events are on the recovery topic');

  if (page !== undefined) {
    await page.waitForFunction(() => document.querySelectorAll('#recovery-log li[data-recovery]').length >= 3, { timeout: 20_000 });
    const shown = await page.$$eval('#recovery-log li', (items) => items.map((li) => li.textContent ?? ''));
    t.ok(shown.some((s) => /restored state: 1 variable, 1 queue \(2 items\)/.test(s)), 'the status page shows the restored state');
    t.ok(shown.some((s) => /re-registered with 3 keys after/.test(s)), 'and the worker coming back');
    t.equal(await page.$eval('#live', (el) => el.textContent), 'live', 'and it is live again, without a reload');
  }
});

/** Counts its setups in the worker's process (read back with client.run). */
class SetupCounter {
  setup(): void {
    const g = globalThis as { setupCounter?: number };
    g.setupCounter = (g.setupCounter ?? 0) + 1;
  }
}

t.test('a worker plugin and an uploaded file from before a scheduler restart reach workers that join after it; the plugin is not set up twice', async (t) => {
  const port = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  let scheduler = await startScheduler(port, ['--no-dashboard']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const first = new CliProcess('dworker', [address, '--nthreads', '1', '--death-timeout', '30s'], env);
  t.teardown(() => first.stop('SIGKILL'));
  await first.waitForStdout(/^Start worker at/m);
  const client = await Client.connect(address, { reconnectTimeout: '30s' });
  t.teardown(() => client.close());
  await client.registerWorkerPlugin(SetupCounter);
  const folder = mkdtempSync(join(tmpdir(), 'dts-upload-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  const modulePath = join(folder, 'survive-upload.mjs');
  writeFileSync(modulePath, 'export const answer = 42;\n');
  await client.uploadFile(modulePath);
  const counts = (): Promise<Record<string, unknown>> => client.run(() => (globalThis as { setupCounter?: number }).setupCounter ?? 0);
  t.same(Object.values(await counts()), [1]);

  await scheduler.stop('SIGKILL');
  scheduler = await startScheduler(port, ['--no-dashboard']);
  await client.waitForWorkers(1, { timeout: '20s' });
  const second = new CliProcess('dworker', [address, '--nthreads', '1'], env);
  t.teardown(() => second.stop('SIGKILL'));
  await second.waitForStdout(/^Start worker at/m);
  await client.waitForWorkers(2, { timeout: '20s' });
  t.same(Object.values(await counts()), [1, 1], 'the worker that joined after the restart runs the plugin; the one that kept it set it up once');
  const answers = await client.run(async () => (await (await import('distributed-ts')).importUploaded<{ answer: number }>('survive-upload.mjs')).answer);
  t.same(Object.values(answers), [42, 42], 'and both have the uploaded module');
});
