/** The scheduler's dashboard: HTTP pages, JSON, Prometheus metrics, live WebSocket pushes; on by default. */
import { createServer } from 'node:http';
import t from 'tap';
import WebSocket from 'ws';
import { Client, LocalCluster, Scheduler } from '../dist/index.js';
import { graphSnapshot, heartbeatMetrics, type DashboardSnapshot } from '../dist/lib/scheduler/dashboard-snapshot.js';
import { escapeHtml, formatBytes } from '../dist/lib/scheduler/dashboard-views.js';
import { renderPage } from '../dist/lib/scheduler/dashboard-pages.js';
import { parseDashboardAddress } from '../dist/lib/scheduler/dashboard-server.js';
import { CliProcess } from './fixtures/cli-process.js';

t.test('text helpers and page shells', async (t) => {
  t.equal(escapeHtml(`a&b<'"`), 'a&amp;b&lt;&#39;&quot;');
  t.same([formatBytes(0), formatBytes(999), formatBytes(1500), formatBytes(3e9)], ['0 B', '999 B', '1.5 kB', '3.0 GB']);
  const info = renderPage('info', { worker: 'tcp://x"><script>alert(1)</script>' });
  t.notMatch(info, /<script>alert/, 'a worker address cannot inject markup');
  t.match(info, /"worker":"tcp:\/\/x\\"&gt;|\\u003cscript/, 'the page config is JSON with < escaped');
  for (const page of ['status', 'workers', 'graph'] as const) {
    const html = renderPage(page);
    t.match(html, /<script src="\/static\/chart\.umd\.min\.js"><\/script>/, `${page} loads Chart.js from this server`);
    t.notMatch(html, /https?:\/\/(?!www\.w3)/, `${page} loads nothing from elsewhere`);
    t.notMatch(html, /http-equiv="refresh"/, `${page} does not reload itself`);
  }
});

t.test('heartbeat metrics are checked; the graph is laid out by depth and not drawn past its limit', async (t) => {
  const good = { cpu: 12.5, rss: 1e8, managedBytes: 10, busyThreads: 1, transfersIn: 0, transferBytesIn: 0, transfersOut: 2, transferBytesOut: 20 };
  t.same(heartbeatMetrics(good), good);
  t.equal(heartbeatMetrics({ ...good, cpu: 'lots' }), undefined, 'a bad field drops the whole report');
  t.equal(heartbeatMetrics({ ...good, rss: Number.NaN }), undefined);
  t.equal(heartbeatMetrics(null), undefined);
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const state = scheduler.state;
  state.updateGraph('c', [
    { key: 'a-1', dependencies: [], runSpec: { fn: { kind: 'source', source: '() => 1', name: 'a' }, args: new Uint8Array() } },
    { key: 'b-1', dependencies: ['a-1'], runSpec: { fn: { kind: 'source', source: '(x) => x', name: 'b' }, args: new Uint8Array() } },
    { key: 'c-1', dependencies: ['a-1', 'b-1'], runSpec: { fn: { kind: 'source', source: '(x, y) => x', name: 'c' }, args: new Uint8Array() } },
  ] as never, ['c-1'], 'test-graph');
  const graph = graphSnapshot(state, 10);
  if (!('nodes' in graph)) throw new Error('expected a graph');
  const depth = Object.fromEntries(graph.nodes.map((n) => [n.key, n.x]));
  t.same(depth, { 'a-1': 0, 'b-1': 1, 'c-1': 2 }, 'x is the longest chain below a task');
  t.equal(graph.edges.length, 3);
  t.same(graphSnapshot(state, 2), { tooLarge: 3, max: 2 });
});

t.test('parseDashboardAddress', async (t) => {
  t.same(parseDashboardAddress(':8787', '127.0.0.1'), { host: '127.0.0.1', port: 8787 });
  t.same(parseDashboardAddress('8787', '0.0.0.0'), { host: '0.0.0.0', port: 8787 });
  t.same(parseDashboardAddress('localhost:0', '127.0.0.1'), { host: 'localhost', port: 0 });
  t.same(parseDashboardAddress('[::1]:9', '127.0.0.1'), { host: '::1', port: 9 });
  t.throws(() => parseDashboardAddress('http://x', '127.0.0.1'), TypeError);
  t.throws(() => parseDashboardAddress(':70000', '127.0.0.1'), TypeError);
});

/** Resolves with the first `n` messages of a dashboard WebSocket. */
function firstMessages(url: string, n: number): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const got: Array<Record<string, unknown>> = [];
    socket.on('message', (data) => {
      got.push(JSON.parse(String(data)) as Record<string, unknown>);
      if (got.length === n) {
        socket.close();
        resolve(got);
      }
    });
    socket.on('error', reject);
  });
}

t.test('a LocalCluster serves its dashboard by default: pages, JSON, metrics, live updates', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  t.teardown(() => cluster.close());
  const base = cluster.dashboardAddress!;
  t.match(base, /^http:\/\/127\.0\.0\.1:\d+$/, 'on by default, on a free port of the scheduler host');
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  t.equal(client.dashboardLink, `${base}/status`);
  const squares = client.map((x: number) => x * x, [1, 2, 3, 4]);
  await client.gather(squares);
  const failed = client.submit(() => {
    throw new Error('no');
  });
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
  t.same((await client.schedulerInfo()).services, { dashboard: base });
  const stream = (await (await fetch(`${base}/json/task-stream.json?since=0`)).json()) as { records: Array<{ key: string }>; next: number };
  for (const f of squares) t.ok(stream.records.some((r) => r.key === f.key), `task stream has ${f.key}`);
  const graph = (await (await fetch(`${base}/json/graph.json`)).json()) as { nodes: Array<{ key: string; state: string }> };
  t.equal(graph.nodes.length, 5);
  for (const page of ['/status', '/workers', '/graph', `/info/worker/${encodeURIComponent(cluster.workerAddresses[0]!)}`]) {
    const response = await fetch(`${base}${page}`);
    t.equal(response.headers.get('content-type'), 'text/html; charset=utf-8', page);
    t.match(await response.text(), /DashboardApp\.start/);
  }
  const chart = await fetch(`${base}/static/chart.umd.min.js`);
  t.equal(chart.status, 200);
  t.match((await chart.text()).slice(0, 2000), /Chart\.js/, 'Chart.js comes from the package');
  t.match(await (await fetch(`${base}/static/dashboard.js`)).text(), /window\.DashboardApp/);

  const metrics = await fetch(`${base}/metrics`);
  t.match(metrics.headers.get('content-type'), /^text\/plain/);
  const text = await metrics.text();
  t.match(text, /^dts_scheduler_workers 2$/m);
  t.match(text, /^dts_scheduler_tasks\{state="memory"\} 4$/m);
  t.match(text, /^dts_scheduler_tasks\{state="erred"\} 1$/m);
  t.match(text, /^dts_tasks_finished_total 4$/m);
  t.match(text, /^dts_tasks_erred_total 1$/m);
  t.match(text, /^dts_scheduler_stored_bytes \d+$/m);
  t.match(text, /^nodejs_eventloop_lag_seconds /m, "prom-client's default process metrics");
  t.match(text, /^process_cpu_user_seconds_total /m);

  const root = await fetch(`${base}/`, { redirect: 'manual' });
  t.equal(root.status, 302);
  t.equal((await fetch(`${base}/nope`)).status, 404);
  t.equal((await fetch(`${base}/status`, { method: 'POST' })).status, 405);

  // Live: updates arrive by themselves, several of them, with the task stream.
  const wsBase = base.replace(/^http/, 'ws');
  const [first, second] = await firstMessages(`${wsBase}/ws?page=status`, 2);
  t.equal(first!.page, 'status');
  t.ok(Array.isArray(first!.stream) && (first!.stream as unknown[]).length >= 5, 'the first push has the task stream so far');
  t.same(second!.stream, [], 'later pushes carry only new records');
  t.ok((second!.time as number) >= (first!.time as number));
  const [graphUpdate] = await firstMessages(`${wsBase}/ws?page=graph`, 1);
  t.equal((graphUpdate!.graph as { nodes: unknown[] }).nodes.length, 5);
  const [infoUpdate] = await firstMessages(`${wsBase}/ws?page=info&worker=${encodeURIComponent(cluster.workerAddresses[0]!)}`, 1);
  t.equal((infoUpdate!.info as { worker: { address: string } }).worker.address, cluster.workerAddresses[0]);
  await t.rejects(firstMessages(`${wsBase}/ws?page=nonsense`, 1), 'an unknown page is refused');

  await client.close();
  await cluster.close();
  await t.rejects(fetch(`${base}/health`), 'closed with the cluster');
});

t.test('dashboardAddress: false turns it off', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, dashboardAddress: false });
  t.teardown(() => cluster.close());
  t.equal(cluster.dashboardAddress, undefined);
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  t.equal(client.dashboardLink, undefined);
});

t.test('Scheduler.start: a bad or taken address fails; with dashboardFallback a taken port moves', async (t) => {
  await t.rejects(Scheduler.start({ port: 0, dashboardAddress: 'nonsense' }), TypeError);
  const first = await Scheduler.start({ port: 0, dashboardAddress: ':0' });
  t.teardown(() => first.close());
  const taken = first.dashboardAddress!.split(':').pop()!;
  await t.rejects(Scheduler.start({ port: 0, dashboardAddress: `127.0.0.1:${taken}` }), { code: 'EADDRINUSE' });
  const moved = await Scheduler.start({ port: 0, dashboardAddress: `127.0.0.1:${taken}`, dashboardFallback: true });
  t.teardown(() => moved.close());
  t.not(moved.dashboardAddress!.split(':').pop(), taken);
  t.equal(await (await fetch(`${moved.dashboardAddress}/health`)).text(), 'ok\n');
  t.equal(await Scheduler.start({ port: 0 }).then(async (s) => { const a = s.dashboardAddress; await s.close(); return a; }), undefined, 'embedded schedulers serve none unless asked');
});

t.test('dscheduler serves the dashboard by default at :8787, or a free port with a warning', async (t) => {
  // Hold 8787 ourselves: another test's scheduler holding it now may let it go at any moment
  // (and then dscheduler would get it), so wait for it to be free and take it.
  let blocker = createServer();
  const deadline = Date.now() + 30_000;
  let holding = false;
  while (!holding && Date.now() < deadline) {
    blocker = createServer();
    holding = await new Promise<boolean>((resolve) => {
      blocker.once('error', () => resolve(false));
      blocker.listen(8787, '127.0.0.1', () => resolve(true));
    });
    if (!holding) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(holding, 'this test holds port 8787');
  t.teardown(() => blocker.close());
  const scheduler = new CliProcess('dscheduler', ['--port', '0']);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [line] = await scheduler.waitForStdout(/^Dashboard at (http:\/\/127\.0\.0\.1:(\d+))\/status$/m);
  t.not(line![2], '8787');
  t.match(scheduler.stderr, /8787 is in use/);
  t.equal(await (await fetch(`${line![1]}/health`)).text(), 'ok\n');
  t.same(await scheduler.stop('SIGTERM'), { code: 0, signal: null });

  const none = new CliProcess('dscheduler', ['--port', '0', '--no-dashboard']);
  t.teardown(() => none.stop('SIGKILL'));
  await none.waitForStdout(/^Start scheduler at /m);
  t.notMatch(none.stdout, /Dashboard at/);
  t.same(await none.stop('SIGTERM'), { code: 0, signal: null });

  const explicit = new CliProcess('dscheduler', ['--port', '0', '--dashboard-address', '127.0.0.1:0']);
  t.teardown(() => explicit.stop('SIGKILL'));
  const [at] = await explicit.waitForStdout(/^Dashboard at (http:\/\/\S+)\/status$/m);
  t.equal(await (await fetch(`${at![1]}/health`)).text(), 'ok\n');
  t.same(await explicit.stop('SIGTERM'), { code: 0, signal: null });
});
