import t from 'tap';
import { MessageChannel, Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { cpusContended, SpinPolicy, spinForMessage } from '../dist/lib/worker/spin-wait.js';
import { ContentionGauge, parseRunnable, runnableThreads } from '../dist/lib/worker/cpu-contention.js';
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

t.test('ContentionGauge: other runnable threads (the caller left out), smoothed, against the processor count', async (t) => {
  const samples = [2, 2, 5, 5, 5, 5, 5, 1, 1, 1, 1, 1];
  let taken = 0;
  const gauge = new ContentionGauge({ cpus: 2, intervalMs: 10, sample: () => samples[taken++] });
  t.equal(gauge.contended(0), false, 'the caller and one other thread on 2 processors: one is spare for the spin');
  t.equal(gauge.otherRunnable, 1, 'the sampling thread itself is not counted');
  t.equal(gauge.contended(5), false);
  t.equal(taken, 1, 'within the interval the last sample is reused');
  const decisions: boolean[] = [];
  for (let i = 1; i < samples.length; i++) decisions.push(gauge.contended(10 * i));
  t.same(decisions, [false, false, true, true, true, true, true, false, false, false, false],
    'a burst of other threads turns it on after a few samples, and their going away turns it off again');
  const unknown = new ContentionGauge({ cpus: 2, sample: () => undefined });
  t.equal(unknown.contended(0), false, 'no sample: not contended');
  t.equal(new ContentionGauge({ cpus: 1, sample: () => 2 }).contended(0), true, 'one processor, one other thread: contended');
});

t.test('runnableThreads reads the machine; parseRunnable reads a /proc/loadavg line', async (t) => {
  t.equal(parseRunnable('0.52 0.58 0.59 3/612 12345\n'), 3);
  t.equal(parseRunnable('17.10 13.2 9.01 17/306 16289'), 17);
  t.equal(parseRunnable('garbage'), undefined);
  t.equal(parseRunnable(''), undefined);
  const running = runnableThreads();
  t.ok(Number.isInteger(running) && running >= 0, `a count of runnable threads (${running})`);
  if (existsSync('/proc/loadavg')) t.ok(running >= 1, 'on Linux the reading thread itself is running');
  t.equal(typeof cpusContended(), 'boolean');
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
