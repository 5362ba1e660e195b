import t from 'tap';
import { Scheduler } from '../dist/actors/scheduler.js';
import { Worker } from '../dist/actors/worker.js';
import { MailboxActor, type Handler, type Peer } from '../dist/lib/comm/mailbox.js';
import { decodeValue, encodeValue, DependencyRef } from '../dist/lib/protocol/values.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import type { GraphTask, OpDict } from '../dist/lib/protocol/messages.js';
import { Client } from '../dist/index.js';

/** A bare client speaking the scheduler protocol, recording every stream message it receives. */
class RawClient extends MailboxActor {
  readonly received: OpDict[] = [];
  private readonly waiters: { match: (m: OpDict) => boolean; resolve: (m: OpDict) => void }[] = [];
  peer!: Peer;
  protected readonly handlers: Readonly<Record<string, Handler>>;

  constructor(readonly id: string) {
    super('raw-client');
    const record: Handler = (msg) => {
      this.received.push(msg);
      for (const w of [...this.waiters]) {
        if (w.match(msg)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
    };
    this.handlers = { 'key-in-memory': record, 'task-erred': record, 'lost-data': record, 'cancelled-keys': record, 'task-retried': record };
  }

  static async open(address: string, id: string): Promise<RawClient> {
    const client = new RawClient(id);
    client.peer = await client.connect(address);
    await client.peer.call({ op: 'register-client', client: id, name: id });
    return client;
  }

  next(op: string, key: string): Promise<OpDict> {
    const seen = this.received.find((m) => m.op === op && m.key === key);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match: (m) => m.op === op && m.key === key, resolve }));
  }

  submit(tasks: GraphTask[], keys: string[]): void {
    this.peer.send({ op: 'update-graph', client: this.id, tasks, keys });
  }
}

function call(key: string, fn: (...args: never[]) => unknown, args: unknown[], dependencies: string[] = [], extra: Partial<GraphTask> = {}): GraphTask {
  return { key, dependencies, runSpec: { fn: toFunctionRef(fn as (...a: unknown[]) => unknown), args: encodeValue(args) }, ...extra };
}

async function cluster(t: Tap.Test, nWorkers: number, nthreads = 1): Promise<{ scheduler: Scheduler; workers: Worker[] }> {
  const scheduler = await Scheduler.start({ address: 'inproc://', validate: true });
  const workers = await Promise.all(Array.from({ length: nWorkers }, (_, i) => Worker.start(scheduler.address, { nthreads, name: `w${i}` })));
  t.teardown(async () => {
    await Promise.allSettled(workers.map((w) => w.close()));
    await scheduler.close();
  });
  return { scheduler, workers };
}

async function until(predicate: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

t.test('end to end over inproc: a small graph runs on real workers, gather returns the value, release frees it', async (t) => {
  const { scheduler, workers } = await cluster(t, 2);
  const client = await RawClient.open(scheduler.address, 'c1');
  t.teardown(() => client.close());
  const add = (a: number, b: number): number => a + b;
  const mul = (a: number, b: number): number => a * b;
  client.submit(
    [call('add-1', add, [1, 2]), call('mul-1', mul, [new DependencyRef('add-1'), 10], ['add-1'])],
    ['mul-1'],
  );
  const done = await client.next('key-in-memory', 'mul-1');
  t.equal(done.type, 'number');
  const reply = await client.peer.call<{ data: Record<string, Uint8Array>; missing: string[] }>({ op: 'gather', keys: ['mul-1', 'nobody-1'] });
  t.equal(decodeValue(reply.data['mul-1']!), 30);
  t.same(reply.missing, ['nobody-1']);

  const ncores = await client.peer.call<Record<string, number>>({ op: 'ncores' });
  t.same(Object.values(ncores), [1, 1]);
  const identity = await client.peer.call<{ type: string; address: string; workers: Record<string, { name: string }> }>({ op: 'identity' });
  t.equal(identity.type, 'Scheduler');
  t.equal(identity.address, scheduler.address);
  t.same(Object.values(identity.workers).map((w) => w.name).sort(), ['w0', 'w1']);
  const whoHas = await client.peer.call<Record<string, string[]>>({ op: 'who_has', keys: ['mul-1'] });
  t.equal(whoHas['mul-1']!.length, 1);
  t.ok(workers.some((w) => w.address === whoHas['mul-1']![0]));

  client.peer.send({ op: 'client-releases-keys', client: 'c1', keys: ['mul-1'] });
  await until(() => scheduler.state.tasks.size === 0, 'the scheduler to forget everything');
  const hasWhat = await client.peer.call<Record<string, string[]>>({ op: 'has_what' });
  t.same(Object.values(hasWhat), [[], []]);
});

t.test('gather waits for a pending key and rejects with the original error of an erred one', async (t) => {
  const { scheduler } = await cluster(t, 1);
  const client = await RawClient.open(scheduler.address, 'c1');
  t.teardown(() => client.close());
  const slow = async (x: number): Promise<number> => {
    await new Promise((r) => setTimeout(r, 50));
    return x * 2;
  };
  const boom = (): never => {
    throw new RangeError('boom from the task');
  };
  client.submit([call('slow-1', slow, [21]), call('boom-1', boom, []), call('after-1', slow, [new DependencyRef('boom-1')], ['boom-1'])], ['slow-1', 'boom-1', 'after-1']);
  const reply = await client.peer.call<{ data: Record<string, Uint8Array> }>({ op: 'gather', keys: ['slow-1'] });
  t.equal(decodeValue(reply.data['slow-1']!), 42, 'the gather was held until the key was in memory');
  await t.rejects(client.peer.call({ op: 'gather', keys: ['after-1'] }), { name: 'RangeError', message: 'boom from the task' });
  const erred = await client.next('task-erred', 'after-1');
  t.match(erred.exception, { name: 'RangeError', message: 'boom from the task' });
});

t.test('a worker that leaves mid-task: its task is rescheduled on another worker', async (t) => {
  const { scheduler, workers } = await cluster(t, 2);
  const client = await RawClient.open(scheduler.address, 'c1');
  t.teardown(() => client.close());
  const [a, b] = workers as [Worker, Worker];
  const wait = async (ms: number): Promise<string> => {
    await new Promise((r) => setTimeout(r, ms));
    return 'done';
  };
  client.submit([call('wait-1', wait, [300], [], { restrictions: { workers: [a.address], allowOtherWorkers: true } })], ['wait-1']);
  await until(() => scheduler.state.tasks.get('wait-1')?.processingOn?.address === a.address, 'the task to start on a');
  // Drop a's connection from the scheduler's side: an unexpected loss, unlike
  // a.close(), which unregisters first and so casts no suspicion on its tasks.
  const aPeer = [...scheduler.peers].find((peer) => (peer.role as { address?: string } | undefined)?.address === a.address);
  t.ok(aPeer, 'the scheduler has a connection to a');
  await aPeer!.close();
  await until(() => scheduler.state.tasks.get('wait-1')?.processingOn?.address === b.address, 'the task to move to b');
  t.equal(scheduler.state.tasks.get('wait-1')!.suspicious, 1, 'an unexpected loss makes its task suspicious');
  await client.next('key-in-memory', 'wait-1');
  const reply = await client.peer.call<{ data: Record<string, Uint8Array> }>({ op: 'gather', keys: ['wait-1'] });
  t.equal(decodeValue(reply.data['wait-1']!), 'done');
  // Only a's connection was cut: a worker outlives a lost scheduler connection and comes back on its own.
  await until(() => scheduler.state.workers.has(a.address), 'a to re-register');
  t.same(Object.keys(await client.peer.call<Record<string, number>>({ op: 'ncores' })).sort(), [a.address, b.address].sort());
});

t.test('scatter, broadcast-run, wait_for_workers and datasets', async (t) => {
  const { scheduler, workers } = await cluster(t, 2);
  const client = await RawClient.open(scheduler.address, 'c1');
  t.teardown(() => client.close());
  const scattered = await client.peer.call<{ keys: string[] }>({
    op: 'scatter',
    client: 'c1',
    data: { 'list-1': encodeValue([1, 2, 3]) },
    broadcast: true,
  });
  t.same(scattered.keys, ['list-1']);
  const whoHas = await client.peer.call<Record<string, string[]>>({ op: 'who_has', keys: ['list-1'] });
  t.same(whoHas['list-1']!.sort(), workers.map((w) => w.address).sort(), 'broadcast puts it on every worker');
  const sum = (xs: number[]): number => xs.reduce((p, x) => p + x, 0);
  client.submit([call('sum-1', sum, [new DependencyRef('list-1')], ['list-1'])], ['sum-1']);
  await client.next('key-in-memory', 'sum-1');
  const reply = await client.peer.call<{ data: Record<string, Uint8Array> }>({ op: 'gather', keys: ['sum-1', 'list-1'] });
  t.equal(decodeValue(reply.data['sum-1']!), 6);
  t.same(decodeValue(reply.data['list-1']!), [1, 2, 3]);

  const hello = (x: number): string => `hello ${x}`;
  const ran = await client.peer.call<Record<string, { ok: boolean; value: Uint8Array }>>({
    op: 'broadcast-run',
    fn: toFunctionRef(hello),
    args: encodeValue([7]),
  });
  t.same(Object.keys(ran).sort(), workers.map((w) => w.address).sort());
  for (const outcome of Object.values(ran)) t.equal(decodeValue(outcome.value), 'hello 7');

  await client.peer.call({ op: 'wait_for_workers', n: 2 });
  await t.rejects(client.peer.call({ op: 'wait_for_workers', n: 3, timeout: 50 }), { name: 'TimeoutError' });

  await client.peer.call({ op: 'publish_put', client: 'c1', name: 'ds', keys: ['sum-1'], data: encodeValue('payload'), override: false });
  await t.rejects(client.peer.call({ op: 'publish_put', client: 'c1', name: 'ds', keys: [], data: encodeValue(1), override: false }), /already exists/);
  t.same(await client.peer.call({ op: 'publish_list' }), ['ds']);
  client.peer.send({ op: 'client-releases-keys', client: 'c1', keys: ['sum-1'] });
  const got = await client.peer.call<{ keys: string[]; data: Uint8Array }>({ op: 'publish_get', name: 'ds' });
  t.same(got.keys, ['sum-1']);
  t.equal(decodeValue(got.data), 'payload');
  t.equal(scheduler.state.tasks.get('sum-1')?.state, 'memory', 'the dataset keeps its keys alive');
  await client.peer.call({ op: 'publish_delete', name: 'ds' });
  await until(() => !scheduler.state.tasks.has('sum-1'), 'sum-1 to be forgotten once unpublished');
  await t.rejects(client.peer.call({ op: 'publish_get', name: 'ds' }), /no dataset named/);
});

t.test('a client that disconnects has its keys released; bad messages get clear errors', async (t) => {
  const { scheduler } = await cluster(t, 1);
  const client = await RawClient.open(scheduler.address, 'c1');
  const id = (x: number): number => x;
  client.submit([call('id-1', id, [1])], ['id-1']);
  await client.next('key-in-memory', 'id-1');
  await t.rejects(client.peer.call({ op: 'gather', keys: 'nope' }), /keys must be an array of strings/);
  await t.rejects(client.peer.call({ op: 'no-such-op' }), { name: 'UnknownOpError' });
  await client.close();
  await until(() => scheduler.state.tasks.size === 0 && !scheduler.state.clients.has('c1'), 'the client to be forgotten');
  t.equal(scheduler.state.clients.has('c1'), false);
});

t.test('over TCP on an ephemeral port, with a 2-thread worker and 200 tasks', async (t) => {
  const scheduler = await Scheduler.start({ host: '127.0.0.1', port: 0 });
  const worker = await Worker.start(scheduler.address, { nthreads: 2 });
  t.teardown(async () => {
    await worker.close();
    await scheduler.close();
  });
  t.match(scheduler.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.not(scheduler.address, 'tcp://127.0.0.1:0');
  const client = await RawClient.open(scheduler.address, 'c1');
  t.teardown(() => client.close());
  const inc = (x: number): number => x + 1;
  const tasks = Array.from({ length: 200 }, (_, i) => call(`inc-${i}`, inc, [i]));
  client.submit(tasks, tasks.map((x) => x.key));
  const reply = await client.peer.call<{ data: Record<string, Uint8Array> }>({ op: 'gather', keys: tasks.map((x) => x.key) });
  const values = tasks.map((x) => decodeValue<number>(reply.data[x.key]!));
  t.equal(values.reduce((p, x) => p + x, 0), (200 * 201) / 2);
});

t.test('with the real Client: map, dependents of an erred future, cancel', async (t) => {
  const { scheduler } = await cluster(t, 2);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const futures = client.map((x: number) => x * 2, Array.from({ length: 500 }, (_, i) => i));
  const results = (await client.gather(futures)) as number[];
  t.equal(results.reduce((p, x) => p + x, 0), 2 * ((499 * 500) / 2));
  const bad = client.submit((x: number): number => {
    throw new TypeError(`bad ${x}`);
  }, 1);
  const dependent = client.submit((x: number) => x + 1, bad);
  await t.rejects(dependent.result(), { name: 'TypeError', message: 'bad 1' });
  const later = client.submit((x: number) => x + 2, bad);
  await t.rejects(later.result(), { name: 'TypeError', message: 'bad 1' }, 'submitted after the failure, same error');
  for (const f of futures) f.release();
  bad.release();
  dependent.release();
  later.release();
  await until(() => scheduler.state.tasks.size === 0, 'released futures to be forgotten');
});
