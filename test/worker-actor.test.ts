import t, { type Test } from 'tap';
import { isMainThread } from 'node:worker_threads';
import { MailboxActor, type Handler, type Peer } from '../dist/lib/comm/mailbox.js';
import { Worker } from '../dist/actors/worker.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import { encodeValue, decodeValue, DependencyRef } from '../dist/lib/protocol/values.js';
import type { OpDict, RunSpec } from '../dist/lib/protocol/messages.js';

/** Plays the scheduler: accepts register-worker, records what workers send on their stream. */
class FakeScheduler extends MailboxActor {
  readonly workers = new Map<string, Peer>();
  readonly received: OpDict[] = [];
  readonly closedWorkers: string[] = [];
  private waiters: Array<{ match: (m: OpDict) => boolean; resolve: (m: OpDict) => void }> = [];
  private record = (msg: OpDict): void => {
    this.received.push(msg);
    const i = this.waiters.findIndex((w) => w.match(msg));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(msg);
  };
  protected readonly handlers: Record<string, Handler> = {
    'register-worker': (msg, from) => {
      this.workers.set(msg.address as string, from!);
      from!.role = msg.address;
      return { status: 'OK' };
    },
    'task-finished': this.record,
    'task-erred': this.record,
    'add-keys': this.record,
    'missing-data': this.record,
    'worker-status-change': this.record,
    'steal-response': this.record,
  };
  constructor() {
    super('fake-scheduler');
  }
  /** The next (or an already received) message matching op and key. */
  next(op: string, key?: string): Promise<OpDict> {
    const match = (m: OpDict) => m.op === op && (key === undefined || m.key === key);
    const seen = this.received.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
  protected override onPeerClosed(peer: Peer): void {
    if (typeof peer.role === 'string') this.closedWorkers.push(peer.role);
  }
}

let runId = 0;
function computeTask(key: string, runSpec: RunSpec, whoHas: Record<string, string[]> = {}): OpDict {
  return { op: 'compute-task', key, runId: ++runId, runSpec, whoHas, nbytes: {}, priority: [0], stimulusId: `test-${key}` };
}
function spec(fn: Function, args: unknown[]): RunSpec {
  return { fn: toFunctionRef(fn), args: encodeValue(args) };
}

async function cluster(t: Test, n: number, scheme: 'inproc' | 'tcp' = 'inproc', options = {}) {
  const scheduler = new FakeScheduler();
  const listener = await scheduler.listen(scheme === 'inproc' ? 'inproc://' : 'tcp://127.0.0.1:0');
  const workers: Worker[] = [];
  for (let i = 0; i < n; i++) workers.push(await Worker.start(listener.address, { nthreads: 2, ...options }));
  t.teardown(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await scheduler.close();
  });
  return { scheduler, workers, address: listener.address };
}

t.test('registers, computes, reports task-finished and serves the result', async (t) => {
  const { scheduler, workers } = await cluster(t, 1);
  const worker = workers[0]!;
  t.equal(worker.status, 'running');
  t.match(worker.address, /^inproc:\/\//);
  t.equal(worker.name, worker.address);
  t.equal(worker.nthreads, 2);
  const peer = scheduler.workers.get(worker.address)!;
  t.ok(peer, 'registered with its address');
  peer.send(computeTask('add-1', spec((a: number, b: number) => a + b, [20, 22])));
  const finished = await scheduler.next('task-finished', 'add-1');
  t.match(finished, { key: 'add-1', type: 'number' });
  t.ok((finished.nbytes as number) > 0);
  const reply = await peer.call<{ status: string; data: Record<string, Uint8Array> }>({ op: 'get_data', keys: ['add-1', 'nope'] });
  t.equal(reply.status, 'OK');
  t.same(Object.keys(reply.data), ['add-1']);
  t.equal(decodeValue(reply.data['add-1']!), 42);
  t.equal(await peer.call({ op: 'ping' }), 'pong');
});

t.test('a failing task reports task-erred with the original error', async (t) => {
  const { scheduler, workers } = await cluster(t, 1);
  const peer = scheduler.workers.get(workers[0]!.address)!;
  peer.send(computeTask('fail-1', spec(() => { const e = new TypeError('nope'); (e as TypeError & { code: string }).code = 'E1'; throw e; }, [])));
  const erred = await scheduler.next('task-erred', 'fail-1');
  t.match(erred.exception, { name: 'TypeError', message: 'nope', props: { code: 'E1' } });
});

t.test('bad messages and dying threads do not stop the worker', async (t) => {
  const { scheduler, workers } = await cluster(t, 1);
  const peer = scheduler.workers.get(workers[0]!.address)!;
  peer.send({ op: 'compute-task', key: 'broken-1', runId: 1, whoHas: null } as unknown as OpDict);
  peer.send({ op: 'free-keys', keys: 5 } as unknown as OpDict);
  peer.send(computeTask('exit-1', spec(() => process.exit(7), [])));
  const erred = await scheduler.next('task-erred', 'exit-1');
  t.match(erred.exception, { name: 'ThreadExitedError', message: /exited with code: 7/ }, 'a typed error says the thread exited');
  peer.send(computeTask('after-1', spec(() => 'still alive', [])));
  t.equal((await scheduler.next('task-finished', 'after-1')).key, 'after-1');
  t.equal(workers[0]!.state.tasks.has('broken-1'), false);
});

t.test('worker B fetches its dependency from worker A with get_data', async (t) => {
  const { scheduler, workers } = await cluster(t, 2);
  const [a, b] = workers as [Worker, Worker];
  const peerA = scheduler.workers.get(a.address)!;
  const peerB = scheduler.workers.get(b.address)!;
  peerA.send(computeTask('x-1', spec(() => [1, 2, 3], [])));
  await scheduler.next('task-finished', 'x-1');
  peerB.send(computeTask('sum-1', spec((xs: number[]) => xs.reduce((s, v) => s + v, 0), [new DependencyRef('x-1')]), { 'x-1': [a.address] }));
  const finished = await scheduler.next('task-finished', 'sum-1');
  t.equal(finished.key, 'sum-1');
  t.match(await scheduler.next('add-keys'), { keys: ['x-1'] }, 'B tells the scheduler it now holds x-1');
  t.same(b.state.keysInMemory.sort(), ['sum-1', 'x-1']);
  const reply = await peerB.call<{ data: Record<string, Uint8Array> }>({ op: 'get_data', keys: ['sum-1'] });
  t.equal(decodeValue(reply.data['sum-1']!), 6);
});

t.test('a dependency nobody can provide is reported as missing-data', async (t) => {
  const { scheduler, workers } = await cluster(t, 1);
  const peer = scheduler.workers.get(workers[0]!.address)!;
  peer.send(computeTask('needs-1', spec((x: number) => x, [new DependencyRef('ghost-1')]), { 'ghost-1': ['inproc://no-such-worker'] }));
  const missing = await scheduler.next('missing-data', 'ghost-1');
  t.same(missing.worker, 'inproc://no-such-worker');
  t.equal(workers[0]!.state.tasks.get('needs-1')!.state, 'waiting');
});

t.test('update_data, free-keys and run', async (t) => {
  const { scheduler, workers } = await cluster(t, 1);
  const worker = workers[0]!;
  const peer = scheduler.workers.get(worker.address)!;
  const updated = await peer.call<{ nbytes: Record<string, number> }>({ op: 'update_data', data: { 'scattered-1': encodeValue('hello') } });
  t.equal(updated.nbytes['scattered-1'], encodeValue('hello').byteLength);
  peer.send(computeTask('upper-1', spec((s: string) => s.toUpperCase(), [new DependencyRef('scattered-1')]), { 'scattered-1': [worker.address] }));
  await scheduler.next('task-finished', 'upper-1');
  const got = await peer.call<{ data: Record<string, Uint8Array> }>({ op: 'get_data', keys: ['upper-1'] });
  t.equal(decodeValue(got.data['upper-1']!), 'HELLO');
  peer.send({ op: 'free-keys', keys: ['upper-1', 'scattered-1'], stimulusId: 'free' });
  await peer.call({ op: 'ping' }); // ordered after the stream message
  t.same(worker.state.keysInMemory, []);

  const onMain = await peer.call<{ ok: boolean; value: Uint8Array }>({
    op: 'run',
    ...spec(async (x: number) => ({ x, main: (await import('node:worker_threads')).isMainThread }), [7]),
  });
  t.equal(onMain.ok, true);
  t.same(decodeValue(onMain.value), { x: 7, main: isMainThread });
  const failed = await peer.call<{ ok: boolean; error: { name: string } }>({ op: 'run', ...spec(() => { throw new RangeError('r'); }, []) });
  t.match(failed, { ok: false, error: { name: 'RangeError' } });
  await t.rejects(peer.call({ op: 'update_data', data: { k: 'not bytes' } }), /not bytes/);
});

t.test('get_data beyond the outgoing limit answers busy', async (t) => {
  const { scheduler, workers } = await cluster(t, 1, 'inproc', { transferOutgoingLimit: 1 });
  const worker = workers[0]!;
  const peer = scheduler.workers.get(worker.address)!;
  await peer.call({ op: 'update_data', data: { 'v-1': encodeValue(1) } });
  const [first, second] = await Promise.all([
    peer.call<{ status: string }>({ op: 'get_data', keys: ['v-1'] }),
    peer.call<{ status: string }>({ op: 'get_data', keys: ['v-1'] }),
  ]);
  t.same([first.status, second.status], ['OK', 'busy']);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal((await peer.call<{ status: string }>({ op: 'get_data', keys: ['v-1'] })).status, 'OK', 'next turn: served again');
});

t.test('pause holds tasks back and tells the scheduler', async (t) => {
  const { scheduler, workers } = await cluster(t, 1);
  const worker = workers[0]!;
  const peer = scheduler.workers.get(worker.address)!;
  worker.pause();
  t.equal(worker.status, 'paused');
  t.match(await scheduler.next('worker-status-change'), { status: 'paused' });
  peer.send(computeTask('held-1', spec(() => 1, [])));
  await peer.call({ op: 'ping' });
  t.equal(worker.state.tasks.get('held-1')!.state, 'ready');
  worker.unpause();
  t.equal((await scheduler.next('task-finished', 'held-1')).key, 'held-1');
});

t.test('over TCP: register, compute and peer transfer', async (t) => {
  const { scheduler, workers, address } = await cluster(t, 2, 'tcp');
  t.match(address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const [a, b] = workers as [Worker, Worker];
  t.match(a.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  const big = 'z'.repeat(200_000);
  scheduler.workers.get(a.address)!.send(computeTask('big-1', spec((s: string) => s + '!', [big])));
  await scheduler.next('task-finished', 'big-1');
  scheduler.workers.get(b.address)!.send(computeTask('len-1', spec((s: string) => s.length, [new DependencyRef('big-1')]), { 'big-1': [a.address] }));
  await scheduler.next('task-finished', 'len-1');
  const reply = await scheduler.workers.get(b.address)!.call<{ data: Record<string, Uint8Array> }>({ op: 'get_data', keys: ['len-1'] });
  t.equal(decodeValue(reply.data['len-1']!), 200_001);
});

t.test('close stops threads and comms; the scheduler sees the worker go', async (t) => {
  const scheduler = new FakeScheduler();
  const listener = await scheduler.listen('inproc://');
  const worker = await Worker.start(listener.address, { nthreads: 1 });
  t.teardown(() => scheduler.close());
  const address = worker.address;
  await worker.close();
  await worker.close();
  t.equal(worker.status, 'closed');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(scheduler.closedWorkers, [address]);
  // Nobody listening: retried for deathTimeout, then a TimeoutError naming the last failure.
  await t.rejects(Worker.start('inproc://nobody-listens-here', { nthreads: 1, deathTimeout: 300 }), { name: 'TimeoutError', message: /no inproc listener/ });
});

t.test('a refused registration fails start and leaves nothing running', async (t) => {
  class RefusingScheduler extends FakeScheduler {
    protected override readonly handlers: Record<string, Handler> = {
      'register-worker': () => ({ status: 'error', message: 'name already taken' }),
    };
  }
  const scheduler = new RefusingScheduler();
  const listener = await scheduler.listen('inproc://');
  t.teardown(() => scheduler.close());
  await t.rejects(Worker.start(listener.address, { nthreads: 1, name: 'dup' }), /refused registration: name already taken/);
});

t.test('a scheduler closing the stream closes the worker', async (t) => {
  const scheduler = new FakeScheduler();
  const listener = await scheduler.listen('inproc://');
  const worker = await Worker.start(listener.address, { nthreads: 1 });
  scheduler.workers.get(worker.address)!.send({ op: 'close' });
  for (let i = 0; i < 100 && worker.status !== 'closed'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.equal(worker.status, 'closed');
  await scheduler.close();
});
