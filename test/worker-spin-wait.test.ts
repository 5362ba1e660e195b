import t from 'tap';
import { MessageChannel, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { availableParallelism, loadavg } from 'node:os';
import { cpusContended, SpinPolicy, spinForMessage } from '../dist/lib/worker/spin-wait.js';
import { BatchPort } from '../dist/lib/worker/batch-port.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import { encodeValue, decodeValue } from '../dist/lib/protocol/values.js';

/** A clock the test moves by hand, in milliseconds. */
function manualClock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

t.test('SpinPolicy: spins while waits are short, stops after long ones, probes to notice recovery', async (t) => {
  const clock = manualClock();
  const policy = new SpinPolicy({ windowMs: 0.1, now: clock.now });
  t.equal(policy.spinNext(), true, 'spins from the start');
  const wait = (ms: number) => {
    const started = clock.now();
    clock.advance(ms);
    policy.record(started);
  };
  for (let i = 0; i < 5; i++) wait(0.05);
  t.equal(policy.spinNext(), true, 'short waits keep it spinning');
  t.equal(policy.hits, 5);
  wait(5);
  t.equal(policy.spinNext(), true, 'one long wait is not enough to stop');
  for (let i = 0; i < 3; i++) wait(5);
  t.equal(policy.misses, 4);
  // Out of spin mode: probes come after 1, 2, 4, ... waits (doubling while they keep missing).
  const pattern: boolean[] = [];
  for (let i = 0; i < 7; i++) pattern.push(policy.spinNext());
  t.same(pattern, [true, false, true, false, false, false, true], 'probes at growing intervals');
  wait(0.01);
  t.equal(policy.spinNext(), true, 'one short wait brings spinning back');
  t.throws(() => new SpinPolicy({ windowMs: -1 }), RangeError);
  t.throws(() => new SpinPolicy({ windowMs: Infinity }), RangeError);
  t.equal(new SpinPolicy({ windowMs: 0 }).spinNext(), false, 'a zero window never spins');
});

t.test('SpinPolicy: no spinning while no processor is spare, back to the usual policy once one is', async (t) => {
  let busy = true;
  const policy = new SpinPolicy({ windowMs: 0.1, now: manualClock().now, contended: () => busy });
  t.equal(policy.spinNext(), false, 'a contended machine gets no spin');
  t.equal(policy.spinNext(), false);
  t.equal(policy.yielded, 2, 'each wait that did not spin is counted');
  busy = false;
  t.equal(policy.spinNext(), true, 'spins again once a processor is spare');
  t.equal(policy.yielded, 2);
  t.equal(new SpinPolicy({ windowMs: 0.1 }).spinNext(), true, 'without a contention check, the policy alone decides');
});

t.test('cpusContended compares the load average with the processor count, at most once a second', async (t) => {
  const far = 1e12;
  const before = loadavg()[0]! >= availableParallelism();
  const fresh = cpusContended(far);
  const after = loadavg()[0]! >= availableParallelism();
  // The kernel updates the load average every 5 s: compare unless this reading straddled an update.
  if (before === after) t.equal(fresh, before, 'contended exactly when the load average reaches the processor count');
  else t.equal(typeof fresh, 'boolean', 'the load average changed during the reading');
  t.equal(cpusContended(far + 10_000 + 500), cpusContended(far + 10_000), 'within a second the last reading is reused');
});

t.test('spinForMessage picks up a queued message, gives up after the window, survives a closed port', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const policy = new SpinPolicy({ windowMs: 2 });
  port1.postMessage({ n: 1 });
  t.same(spinForMessage(port2, policy, policy.now()), { message: { n: 1 } });
  t.equal(policy.caught, 1);
  const started = policy.now();
  t.equal(spinForMessage(port2, policy, started), undefined, 'nothing arrives: undefined');
  t.ok(policy.now() - started >= 2, 'it polled for the whole window');
  port1.close();
  port2.close();
  t.equal(spinForMessage(port2, policy, policy.now()), undefined, 'a closed port ends the spin');
});

function incTask(key: string, x: number) {
  return { key, runSpec: { fn: toFunctionRef((v: number) => v + 1), args: encodeValue([x]) }, deps: {} };
}

async function servedThread(t: Tap.Test, windowMs: number) {
  const { port1, port2 } = new MessageChannel();
  const thread = new Worker(new URL('./fixtures/batch-server.mjs', import.meta.url), { workerData: { port: port2, windowMs }, transferList: [port2] });
  const port = new BatchPort(port1, thread.threadId, new SpinPolicy({ windowMs }));
  t.teardown(async () => {
    port.close();
    await thread.terminate();
  });
  const stats = async () => {
    thread.postMessage('stats');
    const [counters] = await once(thread, 'message');
    return counters as { hits: number; misses: number; caught: number };
  };
  return { port, stats };
}

async function runSequentially(port: BatchPort, n: number): Promise<number> {
  let value = 0;
  for (let i = 0; i < n; i++) {
    const [outcome] = await port.run([incTask(`inc-${i}`, value)]);
    if (!outcome!.ok) throw new Error(outcome!.error.message);
    value = decodeValue(outcome!.value) as number;
  }
  return value;
}

t.test('a real thread and its BatchPort hand a chain of batches over by spinning, both ways', async (t) => {
  // A generous window, so that even a loaded machine answers within it.
  const { port, stats } = await servedThread(t, 50);
  t.equal(await runSequentially(port, 40), 40, 'every batch ran, in order');
  t.ok(port.spin.caught >= 20, `the main side caught answers by polling (${port.spin.caught} of 40)`);
  const thread = await stats();
  t.ok(thread.caught >= 20, `the thread caught batches by polling (${thread.caught} of 39)`);
});

t.test('with a zero window nobody spins and everything still arrives', async (t) => {
  const { port, stats } = await servedThread(t, 0);
  t.equal(await runSequentially(port, 20), 20);
  t.equal(port.spin.caught, 0);
  t.equal((await stats()).caught, 0);
});
