/** Structured events and the task stream, on real clusters: clients, tasks and the scheduler log; workers report timing. */
import t from 'tap';
import { Client, LocalCluster } from '../dist/index.js';
import { TaskStream } from '../dist/lib/scheduler/task-stream.js';

t.test('logEvent / subscribeTopic / unsubscribeTopic / getEvents, from clients and from tasks', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: false, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const other = await Client.connect(cluster);
  t.teardown(() => other.close());

  // Scheduler plugins hear every event, and may log their own through their view.
  const heard: Array<[string, unknown]> = [];
  await cluster.scheduler.addPlugin({
    name: 'listener',
    logEvent(topic: string, msg: unknown) {
      heard.push([topic, msg]);
    },
    start(scheduler: { logEvent(topic: string, msg: unknown): void }) {
      scheduler.logEvent('plugin-topic', 'plugin started');
    },
  });
  t.same((await client.getEvents('plugin-topic')).map(([, msg]) => msg), ['plugin started']);

  const seen: Array<[number, unknown]> = [];
  await other.subscribeTopic('news', (time, msg) => void seen.push([time, msg]));
  const before = Date.now();
  await client.logEvent('news', { headline: 'hello', n: 1 });
  // The event is pushed before the log call is answered, and the subscriber's connection is in order.
  await other.getEvents('news');
  t.equal(seen.length, 1);
  t.same(seen[0]![1], { headline: 'hello', n: 1 });
  t.ok(seen[0]![0] >= before - 1 && seen[0]![0] <= Date.now() + 1, 'time is wall-clock ms');

  // From inside a task, through the worker's client.
  const fromTask = client.submit(async (n: number) => {
    const { getClient } = await import('distributed-ts');
    await (await getClient()).logEvent(['news', 'task-topic'], { fromTask: n });
    return n;
  }, 7);
  t.equal(await fromTask.result(), 7);
  await other.getEvents('news');
  t.same(seen.map(([, msg]) => msg), [{ headline: 'hello', n: 1 }, { fromTask: 7 }]);
  t.same((await client.getEvents('task-topic')).map(([, msg]) => msg), [{ fromTask: 7 }]);

  await other.unsubscribeTopic('news');
  await client.logEvent('news', 'after unsubscribing');
  await other.getEvents('news');
  t.equal(seen.length, 2, 'no handler call after unsubscribeTopic');
  t.same((await client.getEvents('news')).map(([, msg]) => msg).at(-1), 'after unsubscribing');

  // A throwing handler is logged and keeps its subscription.
  let calls = 0;
  await other.subscribeTopic('flaky', () => {
    calls++;
    throw new Error('handler failed');
  });
  await client.logEvent('flaky', 1);
  await client.logEvent('flaky', 2);
  await other.getEvents('flaky');
  t.equal(calls, 2);

  t.same(heard.filter(([topic]) => topic === 'news').map(([, msg]) => msg), [{ headline: 'hello', n: 1 }, { fromTask: 7 }, 'after unsubscribing']);
  const all = await client.getEvents();
  t.ok(Array.isArray(all.news) && Array.isArray(all['task-topic']), 'getEvents() gives every topic');
  t.same(await client.getEvents('never-used'), []);

  await t.rejects(client.logEvent('', 1), TypeError);
  await t.rejects(client.logEvent('x', () => 1), TypeError);
  await t.rejects(client.subscribeTopic('x', 'not a function' as never), TypeError);
});

t.test('getEvents keeps the last 1000 per topic', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, processes: false, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  await Promise.all(Array.from({ length: 1100 }, (_, i) => client.logEvent('many', i)));
  const events = await client.getEvents('many');
  t.equal(events.length, 1000);
  t.same(events.map(([, msg]) => msg), Array.from({ length: 1000 }, (_, i) => i + 100), 'the oldest 100 were dropped, order kept');
});

t.test('the scheduler logs workers coming and going and tasks erring', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: false, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const workers = (await client.getEvents('workers')).map(([, msg]) => msg as { action: string; worker: string });
  t.same(workers.filter((e) => e.action === 'add-worker').map((e) => e.worker).sort(), [...cluster.workerAddresses].sort());
  const erred: Array<{ action: string; key: string }> = [];
  await client.subscribeTopic('tasks', (_time, msg) => void erred.push(msg as { action: string; key: string }));
  const failing = client.submit(() => {
    throw new RangeError('out of range');
  });
  await failing.exception();
  await client.getEvents('tasks');
  t.equal(erred.length, 1);
  t.match(erred[0], { action: 'task-erred', key: failing.key, exception: /RangeError: out of range/ });
  t.ok((await client.getEvents('all')).some(([, msg]) => (msg as { key?: string }).key === failing.key), "also on 'all'");
  const leaving = cluster.workers[1]!;
  const address = leaving.address;
  await leaving.close();
  await client.waitForWorkers(1);
  // The removal is logged as the scheduler drops the worker; ask until it is there (no timing assumed).
  let removed = false;
  for (let i = 0; i < 200 && !removed; i++) {
    removed = (await client.getEvents('workers')).some(([, msg]) => (msg as { action: string; worker: string }).action === 'remove-worker' && (msg as { worker: string }).worker === address);
    if (!removed) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  t.ok(removed, 'remove-worker logged');
});

t.test('getTaskStream: worker, thread and phases of each task, transfers and errors; start/stop select', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 2, processes: true, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const [a, b] = cluster.workerAddresses as [string, string];
  const before = Date.now();
  const x = client.with({ workers: [a] }).submit((n: number) => new Uint8Array(n).fill(1), 50_000);
  const y = client.with({ workers: [b], allowOtherWorkers: false }).submit((bytes: Uint8Array) => bytes.length, x);
  t.equal(await y.result(), 50_000);
  const squares = client.map((n: number) => n * n, [1, 2, 3, 4, 5, 6]);
  await client.gather(squares);
  const failing = client.submit(() => {
    throw new Error('no');
  });
  await failing.exception();

  const stream = await client.getTaskStream();
  const byKey = new Map(stream.map((r) => [r.key, r]));
  for (const f of [x, y, ...squares]) {
    const record = byKey.get(f.key);
    t.ok(record, `${f.key} is in the stream`);
    if (record === undefined) continue;
    t.equal(record.status, 'OK');
    t.ok(cluster.workerAddresses.includes(record.worker));
    t.type(record.thread, 'number');
    t.ok(record.thread! > 0, 'a pool thread, not the main thread');
    const [compute] = record.startstops;
    t.equal(compute!.action, 'compute');
    t.ok(compute!.start >= before - 1000 && compute!.stop >= compute!.start && compute!.stop <= Date.now() + 1000, 'wall-clock ms');
  }
  t.equal(byKey.get(x.key)!.worker, a);
  t.equal(byKey.get(y.key)!.worker, b);
  t.equal(byKey.get(failing.key)?.status, 'error');
  const transfer = stream.find((r) => r.startstops[0]!.action === 'transfer');
  t.ok(transfer, 'the fetch of x by b is in the stream');
  t.match(transfer, { worker: b, thread: null, startstops: [{ action: 'transfer', source: a }] });
  t.ok(transfer!.nbytes! >= 50_000);

  t.same(await client.getTaskStream({ start: Date.now() + 60_000 }), [], 'nothing ends in the future');
  t.equal((await client.getTaskStream({ start: '1h' })).length, stream.length, "'1h': everything of the last hour");
  t.same(await client.getTaskStream({ stop: before - 60_000 }), []);
});

t.test('TaskStream ring: bounded, incremental reads by index, malformed timing replaced', async (t) => {
  const ring = new TaskStream(3);
  for (let i = 0; i < 5; i++) ring.task('w', { key: `k-${i}`, thread: 1, startstops: [{ action: 'compute', start: i, stop: i + 1 }] }, 'OK', 100);
  t.same(ring.since(0).records.map((r) => r.key), ['k-2', 'k-3', 'k-4']);
  t.same(ring.since(4), { records: [ring.since(0).records[2]], next: 5 });
  t.same(ring.since(5).records, []);
  ring.task('w', { key: 'bad', startstops: [{ action: 'nap', start: 1, stop: 0 }] }, 'error', 100);
  t.same(ring.since(5).records[0]!.startstops, [{ action: 'compute', start: 100, stop: 100 }]);
  ring.transfer('w', ['k'], { action: 'transfer', start: 1, stop: 'x' });
  t.equal(ring.index, 6, 'a malformed transfer is not recorded');
  t.throws(() => new TaskStream(0), RangeError);
  t.throws(() => ring.select({ start: Number.NaN }), TypeError);
});
