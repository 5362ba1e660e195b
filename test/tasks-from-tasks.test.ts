// Tasks that use the cluster: getClient/getWorker/secede/rejoin inside tasks on
// real workers, coordination primitives from tasks, and the thread-side logic
// (task context, slot bookkeeping, the comlink thread link) on the main thread.
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { Client, LocalCluster, getWorker, secede, rejoin, Queue, Variable, Future } from '../dist/index.js';
import { DistributedError, CommClosedError, ConnectError } from '../dist/lib/errors.js';
import { blockingWait, currentTask, runInTask, type TaskHost, type WorkerInfo } from '../dist/lib/task-context.js';
import { WorkerState } from '../dist/lib/worker/worker-state.js';
import type { Instruction } from '../dist/lib/worker/state-events.js';
import { WorkerTaskHost, type SlotEvent } from '../dist/lib/worker/task-host.js';
import { ThreadTaskHost, THREAD_LINK } from '../dist/lib/worker/thread-link.js';
import { guardedRemote } from '../dist/lib/comm/comlink-port.js';
import { acceptInprocPort, InprocComm, inprocTransport, setInprocDialer } from '../dist/lib/comm/inproc.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import { encodeValue } from '../dist/lib/protocol/values.js';
import { expose } from 'comlink';
import { portEndpoint } from '../dist/lib/comm/comlink-port.js';

const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
const client = await Client.connect(cluster);
t.teardown(async () => {
  await client.close();
  await cluster.close();
});

t.test('nested submit + gather on a one-thread worker completes (fib(8), depth 7)', async (t) => {
  const fib = async function fib(n: number): Promise<number> {
    if (n < 2) return n;
    const { getClient } = await import('distributed-ts');
    const inner = await getClient();
    const [a, b] = await inner.gather([inner.submit(fib, n - 1), inner.submit(fib, n - 2)]);
    return (a as number) + (b as number);
  };
  t.equal(await client.submit(fib, 8).result({ timeout: 15000 }), 21);
});

t.test('future.result() inside a task also gives the slot back', async (t) => {
  const outer = async (x: number): Promise<number> => {
    const { getClient } = await import('distributed-ts');
    const inner = await getClient();
    return (await inner.submit((y: number) => y * 2, x).result()) + 1;
  };
  t.same(await client.gather(client.map(outer, [1, 2, 3])), [3, 5, 7]);
});

t.test('secede opens the slot: a quick task runs while a seceded long one waits', async (t) => {
  const long = async (ms: number): Promise<string> => {
    const { secede, rejoin } = await import('distributed-ts');
    secede();
    await new Promise((resolve) => setTimeout(resolve, ms));
    await rejoin();
    return 'long done';
  };
  const slow = client.submit(long, 1500);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const quick = client.submit((x: number) => x + 1, 41);
  t.equal(await quick.result({ timeout: 1000 }), 42, 'the quick task finished while the long one was still running');
  t.equal(slow.status, 'pending', 'the long task is still running');
  t.equal(await slow.result({ timeout: 5000 }), 'long done');
});

t.test('getWorker inside a task describes its worker; outside a task it throws', async (t) => {
  const info = await client.submit(async () => (await import('distributed-ts')).getWorker()).result();
  const worker = cluster.workers[0]!;
  t.match(info, { address: worker.address, name: 'local-0', nthreads: 1, schedulerAddress: cluster.schedulerAddress, pid: process.pid });
  const viaRun = await client.run(async () => (await import('distributed-ts')).getWorker().address);
  t.same(viaRun, { [worker.address]: worker.address }, 'client.run code sees its worker too');
  t.throws(() => getWorker(), DistributedError);
  secede(); // outside a task: nothing to give back
  await rejoin();
  t.equal(currentTask(), undefined);
});

t.test('a Lock used inside 20 tasks guards a counter in a Variable: exactly 20', async (t) => {
  const wide = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 2 });
  const wideClient = await Client.connect(wide);
  t.teardown(async () => {
    await wideClient.close();
    await wide.close();
  });
  await new Variable('tft-counter', { client: wideClient }).set(0);
  const bump = async (i: number): Promise<number> => {
    const { Lock, Variable } = await import('distributed-ts');
    const lock = new Lock('tft-lock');
    await lock.acquire();
    try {
      const counter = new Variable('tft-counter');
      const n = (await counter.get()) as number;
      await new Promise((resolve) => setTimeout(resolve, 2));
      await counter.set(n + 1);
    } finally {
      await lock.release();
    }
    return i;
  };
  await wideClient.gather(wideClient.map(bump, Array.from({ length: 20 }, (_, i) => i)));
  t.equal(await new Variable('tft-counter', { client: wideClient }).get(), 20);
});

t.test('a Queue carries values and futures between tasks and the client', async (t) => {
  const queue = new Queue('tft-queue', { client });
  const replies = new Queue('tft-replies', { client });
  const data = client.submit((x: number) => x * 10, 7);
  await queue.put({ plain: 'value' });
  await queue.put(data);
  const worker = async (): Promise<string> => {
    const { Queue, getClient } = await import('distributed-ts');
    const inbox = new Queue('tft-queue');
    const outbox = new Queue('tft-replies');
    const plain = (await inbox.get()) as { plain: string };
    const future = (await inbox.get()) as { result(): Promise<number> };
    const value = await future.result();
    const inner = await getClient();
    await outbox.put(inner.submit((v: number) => v + 1, value));
    await outbox.put(`${plain.plain}:${value}`);
    return 'ok';
  };
  t.equal(await client.submit(worker).result({ timeout: 10000 }), 'ok');
  const fromTask = await replies.get({ timeout: 5000 });
  t.ok(fromTask instanceof Future, 'a future put by a task arrives as a Future of this client');
  t.equal(await (fromTask as Future<number>).result(), 71);
  t.equal(await replies.get({ timeout: 5000 }), 'value:70');
});

/* ------------------------------------------------------------------ */
/* the thread-side logic, on the main thread                            */
/* ------------------------------------------------------------------ */

const info: WorkerInfo = { address: 'inproc://w', name: 'w', nthreads: 1, schedulerAddress: 'inproc://s', pid: process.pid };

function recordingHost(): TaskHost & { events: string[] } {
  const events: string[] = [];
  return {
    info,
    events,
    secede: (key) => void events.push(`secede ${key}`),
    rejoin: async (key) => void events.push(`rejoin ${key}`),
    client: () => {
      throw new Error('no client here');
    },
  };
}

t.test('blockingWait secedes once for overlapping waits and rejoins after the last', async (t) => {
  const host = recordingHost();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  await runInTask(host, 'k', async () => {
    const a = blockingWait(gate);
    const b = blockingWait(gate.then(() => 2));
    t.same(host.events, ['secede k'], 'one secede for two overlapping waits');
    t.equal(currentTask()!.holdsSlot, false);
    release();
    await Promise.all([a, b]);
    t.same(host.events, ['secede k', 'rejoin k'], 'one rejoin after both');
    t.equal(currentTask()!.holdsSlot, true);
    secede();
    await blockingWait(Promise.resolve());
    t.same(host.events, ['secede k', 'rejoin k', 'secede k'], 'an explicitly seceded task does not rejoin implicitly');
    await rejoin();
    t.same(host.events.at(-1), 'rejoin k');
    t.same(getWorker(), info);
  });
  t.equal(await blockingWait(Promise.resolve(5)), 5, 'outside a task it is the plain wait');
  await runInTask(host, undefined, async () => {
    await blockingWait(Promise.resolve());
    secede();
    t.same(host.events.length, 4, 'worker code that is not a task holds no slot');
  });
});

function computeTask(key: string) {
  const runSpec = { fn: toFunctionRef((x: number) => x), args: encodeValue([1]) };
  return { op: 'compute-task' as const, key, runId: 1, runSpec, whoHas: {}, nbytes: {}, priority: [0], stimulusId: `s-${key}` };
}
const executedKeys = (out: Instruction[]) => out.flatMap((i) => (i.kind === 'execute' ? i.batch.map((task) => task.key) : []));

t.test('WorkerState: secede frees the slot and says long-running; rejoin waits for a free slot', async (t) => {
  const state = new WorkerState({ address: 'inproc://self', nthreads: 1 });
  t.same(executedKeys(state.handle(computeTask('a'), computeTask('b'), computeTask('c'))), ['a']);
  const seceded = state.handle({ op: 'secede', key: 'a' });
  t.same(executedKeys(seceded), ['b'], 'the free slot starts the next task');
  t.match(seceded.find((i) => i.kind === 'send-to-scheduler'), { msg: { op: 'long-running', key: 'a', runId: 1 } });
  t.equal(state.tasks.get('a')!.state, 'long-running');
  t.equal(state.slotsInUse, 1);
  t.same(state.handle({ op: 'secede', key: 'a' }), [], 'seceding twice changes nothing');
  t.same(state.handle({ op: 'rejoin', key: 'a' }), [], 'no slot is free: the rejoin waits');
  const bBatch = state.tasks.get('b')!.batchId!;
  const done = state.handle({ op: 'execute-success', key: 'b', batchId: bBatch, value: encodeValue(1), type: 'number', nbytes: 1, duration: 1 });
  t.same(done.filter((i) => i.kind === 'rejoin-granted'), [{ kind: 'rejoin-granted', key: 'a' }], 'b finished: a gets the slot back');
  t.same(executedKeys(done), [], 'before c can start');
  t.equal(state.slotsInUse, 1);
  t.same(state.handle({ op: 'rejoin', key: 'zzz' }), [{ kind: 'rejoin-granted', key: 'zzz' }], 'an unknown task is granted at once');
  const failed = state.handle({ op: 'secede', key: 7 as unknown as string });
  t.equal(failed[0]?.kind, 'event-failed');
});

t.test('the thread link: secede, rejoin and dial over comlink, served by the worker host', async (t) => {
  const fed: SlotEvent[] = [];
  let workerHost!: WorkerTaskHost;
  workerHost = new WorkerTaskHost(info, (event) => {
    fed.push(event);
    if (event.op === 'rejoin') queueMicrotask(() => workerHost.rejoinGranted(event.key));
  });
  const threadHost = new ThreadTaskHost(info, (message) => workerHost.serveThread((message as Record<string, MessagePort>)[THREAD_LINK]!));
  t.teardown(async () => {
    setInprocDialer(undefined);
    await workerHost.close();
  });
  threadHost.secede('t1');
  await threadHost.rejoin('t1');
  t.same(fed, [{ op: 'secede', key: 't1' }, { op: 'rejoin', key: 't1' }]);
  // dial: a port handed through the link to a listener of "the main thread".
  const { transfer } = await import('comlink');
  const link = (threadHost as unknown as { link(): { dial(a: string, p: unknown, l: string): Promise<void> } }).link();
  const live = await inprocTransport.listen('inproc://', (comm) => comm.onMessage((msg) => comm.write({ op: 'echo', got: msg.op })));
  t.teardown(() => live.close());
  const { port1, port2 } = new MessageChannel();
  await link.dial(live.address, transfer(port2, [port2]), 'inproc://thread/1');
  const comm = new InprocComm(port1, 'inproc://thread/1', live.address);
  const echo = new Promise((resolve) => comm.onMessage(resolve));
  comm.write({ op: 'hello' });
  t.same(await echo, { op: 'echo', got: 'hello' });
  await comm.close();
  // With the dialer installed, an inproc address with no local listener is dialled through the link.
  const gone = await inprocTransport.listen('inproc://', () => undefined);
  await gone.close();
  await t.rejects(inprocTransport.connect(gone.address), ConnectError, 'no listener there: ConnectError through the link');
  t.throws(() => acceptInprocPort('inproc://nobody/1', new MessageChannel().port1, 'x'), ConnectError);
  await workerHost.close();
  await t.rejects(workerHost.rejoin('late'), CommClosedError, 'a closed host refuses rejoins');
});

t.test('guardedRemote: calls reject when the other side closes its port, or time out', async (t) => {
  const { port1, port2 } = new MessageChannel();
  let release!: () => void;
  expose({ slow: () => new Promise<void>((resolve) => (release = resolve)), quick: (x: number) => x + 1 }, portEndpoint(port2));
  const remote = guardedRemote<{ slow(): Promise<void>; quick(x: number): number }>(port1, { peer: 'test peer' });
  t.equal(await remote.quick(1), 2);
  const hanging = remote.slow();
  port2.close();
  await t.rejects(hanging, CommClosedError, 'a call in flight rejects when the port closes');
  await t.rejects(remote.quick(1), CommClosedError, 'and so does every later call');
  release?.();
  const { port1: a, port2: b } = new MessageChannel();
  expose({ never: () => new Promise(() => undefined) }, portEndpoint(b));
  const timed = guardedRemote<{ never(): Promise<void> }>(a, { timeoutMs: 50 });
  await t.rejects(timed.never(), { name: 'TimeoutError' });
  a.close();
});
