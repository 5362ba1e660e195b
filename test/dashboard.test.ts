/** The scheduler's dashboard: pure views of a snapshot, and the HTTP server on real clusters and the CLI. */
import t from 'tap';
import { Client, LocalCluster, Scheduler } from '../dist/index.js';
import { emptyCounts, type DashboardSnapshot } from '../dist/lib/scheduler/dashboard-snapshot.js';
import { escapeHtml, formatBytes, renderMetrics, renderStatusPage } from '../dist/lib/scheduler/dashboard-views.js';
import { parseDashboardAddress } from '../dist/lib/scheduler/dashboard-server.js';
import { CliProcess } from './fixtures/cli-process.js';

function snapshot(): DashboardSnapshot {
  const counts = { ...emptyCounts(), memory: 3, erred: 1, processing: 2 };
  return {
    scheduler: { address: 'tcp://127.0.0.1:8786', id: 'Scheduler-x', uptimeSeconds: 12 },
    clients: 1,
    workers: [{ address: 'tcp://127.0.0.1:4000', name: '<script>alert(1)</script>', nthreads: 2, status: 'running', processing: 2, keys: 3, nbytes: 2_500_000, memoryLimit: 4e9, pid: 42 }],
    tasks: { total: 6, counts },
    prefixes: [{ name: 'inc"x', counts, durationMs: 0.25 }],
  };
}

t.test('views: HTML escapes what users named, metrics are valid Prometheus text', async (t) => {
  const html = renderStatusPage(snapshot());
  t.notMatch(html, /<script>alert/, 'a worker name cannot inject markup');
  t.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  t.match(html, /http-equiv="refresh"/);
  t.match(html, /3 \/ 6/, 'progress: in memory out of the tasks shown');
  t.match(html, /2\.5 MB/);
  const metrics = renderMetrics(snapshot());
  t.match(metrics, /^dts_scheduler_tasks\{state="memory"\} 3$/m);
  t.match(metrics, /^dts_scheduler_prefix_tasks\{prefix="inc\\"x",state="erred"\} 1$/m, 'label values escaped');
  t.match(metrics, /^dts_worker_stored_bytes\{worker="tcp:\/\/127\.0\.0\.1:4000"\} 2500000$/m);
  for (const line of metrics.trim().split('\n')) t.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?\d+(\.\d+)?)$/, `well-formed: ${line}`);
  t.equal(escapeHtml(`a&b<'"`), 'a&amp;b&lt;&#39;&quot;');
  t.same([formatBytes(0), formatBytes(999), formatBytes(1500), formatBytes(3e9)], ['0 B', '999 B', '1.5 kB', '3.0 GB']);
});

t.test('parseDashboardAddress', async (t) => {
  t.same(parseDashboardAddress(':8787', '127.0.0.1'), { host: '127.0.0.1', port: 8787 });
  t.same(parseDashboardAddress('8787', '0.0.0.0'), { host: '0.0.0.0', port: 8787 });
  t.same(parseDashboardAddress('localhost:0', '127.0.0.1'), { host: 'localhost', port: 0 });
  t.same(parseDashboardAddress('[::1]:9', '127.0.0.1'), { host: '::1', port: 9 });
  t.throws(() => parseDashboardAddress('http://x', '127.0.0.1'), TypeError);
  t.throws(() => parseDashboardAddress(':70000', '127.0.0.1'), TypeError);
});

t.test('a LocalCluster with a dashboard serves its state over HTTP and closes it', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboardAddress: '127.0.0.1:0' });
  t.teardown(() => cluster.close());
  const base = cluster.dashboardAddress!;
  t.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const squares = client.map((x: number) => x * x, [1, 2, 3, 4]);
  await client.gather(squares);
  const failed = client.submit(() => { throw new Error('no'); });
  await failed.exception();

  t.equal(await (await fetch(`${base}/health`)).text(), 'ok\n');
  const status = (await (await fetch(`${base}/json/status.json`)).json()) as DashboardSnapshot;
  t.equal(status.workers.length, 2);
  t.equal(status.clients, 1);
  t.equal(status.tasks.counts.memory, 4);
  t.equal(status.tasks.counts.erred, 1);
  t.same(status.prefixes.map((p) => p.name), ['lambda']);
  const identity = (await (await fetch(`${base}/json/identity.json`)).json()) as { address: string; services: { dashboard?: string } };
  t.equal(identity.address, cluster.schedulerAddress);
  t.same(identity.services, { dashboard: base }, 'schedulerInfo().services names the dashboard');
  t.same((await client.schedulerInfo()).services, { dashboard: base });
  const page = await fetch(`${base}/status`);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  const html = await page.text();
  for (const address of cluster.workerAddresses) t.ok(html.includes(address), `the page lists ${address}`);
  t.match(await (await fetch(`${base}/metrics`)).text(), /^dts_scheduler_workers 2$/m);
  const root = await fetch(`${base}/`, { redirect: 'manual' });
  t.equal(root.status, 302);
  t.equal((await fetch(`${base}/nope`)).status, 404);
  t.equal((await fetch(`${base}/status`, { method: 'POST' })).status, 405);

  await client.close();
  await cluster.close();
  await t.rejects(fetch(`${base}/health`), 'closed with the cluster');
});

t.test('Scheduler.start refuses a bad dashboard address and one already in use, leaving nothing open', async (t) => {
  await t.rejects(Scheduler.start({ port: 0, dashboardAddress: 'nonsense' }), TypeError);
  const first = await Scheduler.start({ port: 0, dashboardAddress: ':0' });
  t.teardown(() => first.close());
  const taken = first.dashboardAddress!.split(':').pop()!;
  await t.rejects(Scheduler.start({ port: 0, dashboardAddress: `127.0.0.1:${taken}` }), { code: 'EADDRINUSE' });
  t.equal((await Scheduler.start({ port: 0 }).then(async (s) => { const a = s.dashboardAddress; await s.close(); return a; })), undefined, 'no dashboard unless asked');
});

t.test('dscheduler --dashboard-address prints where the dashboard is', async (t) => {
  const scheduler = new CliProcess('dscheduler', ['--port', '0', '--dashboard-address', '127.0.0.1:0']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [line] = await scheduler.waitForStdout(/^Dashboard at (http:\/\/\S+)\/status$/m);
  t.equal(await (await fetch(`${line![1]}/health`)).text(), 'ok\n');
  t.same(await scheduler.stop('SIGTERM'), { code: 0, signal: null });
});
