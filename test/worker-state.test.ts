import t from 'tap';
import { WorkerState } from '../dist/lib/worker/worker-state.js';
import type { Instruction, WorkerEvent } from '../dist/lib/worker/state-events.js';
import type { ComputeTaskMsg } from '../dist/lib/protocol/messages.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import { encodeValue } from '../dist/lib/protocol/values.js';

const self = 'inproc://self';
const runSpec = { fn: toFunctionRef((x: number) => x), args: encodeValue([1]) };
let runIds = 0;

function compute(key: string, extra: Partial<ComputeTaskMsg> = {}): ComputeTaskMsg {
  return { op: 'compute-task', key, runId: ++runIds, runSpec, whoHas: {}, nbytes: {}, priority: [0], stimulusId: `s-${key}`, ...extra };
}

function executes(instructions: Instruction[]) {
  return instructions.flatMap((i) => (i.kind === 'execute' ? [i] : []));
}
function executedKeys(instructions: Instruction[]): string[][] {
  return executes(instructions).map((i) => i.batch.map((task) => task.key));
}
function sent(instructions: Instruction[]) {
  return instructions.flatMap((i) => (i.kind === 'send-to-scheduler' ? [i.msg] : []));
}
function gathers(instructions: Instruction[]) {
  return instructions.flatMap((i) => (i.kind === 'gather-dep' ? [i] : []));
}
function success(key: string, batchId: number, value = encodeValue(key), duration = 5): WorkerEvent {
  return { op: 'execute-success', key, batchId, value, type: 'string', nbytes: value.byteLength, duration };
}
function batchIdOf(instructions: Instruction[], key: string): number {
  const found = executes(instructions).find((i) => i.batch.some((task) => task.key === key));
  if (found === undefined) throw new Error(`${key} not executed`);
  return found.batchId;
}

t.test('a task with no dependencies executes at once and reports task-finished', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 2 });
  const out = ws.handle(compute('inc-1'));
  t.same(executedKeys(out), [['inc-1']]);
  t.equal(ws.tasks.get('inc-1')!.state, 'executing');
  const value = encodeValue(2);
  const done = ws.handle(success('inc-1', batchIdOf(out, 'inc-1'), value, 3));
  t.equal(ws.tasks.get('inc-1')!.state, 'memory');
  const held = ws.data.get('inc-1') as Uint8Array;
  t.same([...held], [...value], 'the result bytes are held');
  t.not(held.buffer, value.buffer, 'a small result is packed into a shared chunk (byte-slab.ts)');
  t.equal(ws.memoryBytes, value.byteLength);
  const [msg] = sent(done);
  t.match(msg, { op: 'task-finished', key: 'inc-1', nbytes: value.byteLength, type: 'string', duration: 3 });
  t.equal((msg as { runId: number }).runId, ws.tasks.get('inc-1')!.runId);
  // Asked again for a key already in memory: report it again, no recompute.
  const again = ws.handle(compute('inc-1'));
  t.same(executedKeys(again), []);
  t.match(sent(again), [{ op: 'task-finished', key: 'inc-1' }]);
});

t.test('dependencies present run at once; missing ones are gathered from their holders', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  ws.handle({ op: 'update-data', data: { 'x-1': encodeValue(1) } });
  const out = ws.handle(compute('add-1', { whoHas: { 'x-1': [self] }, nbytes: { 'x-1': 9 } }));
  t.same(executedKeys(out), [['add-1']]);
  t.same(Object.keys(executes(out)[0]!.batch[0]!.deps), ['x-1']);

  const ws2 = new WorkerState({ address: self, nthreads: 1 });
  const out2 = ws2.handle(
    compute('add-2', { whoHas: { 'a-1': ['tcp://A'], 'b-1': ['tcp://A'], 'c-1': ['tcp://B'] }, nbytes: { 'a-1': 10, 'b-1': 20, 'c-1': 5 } }),
  );
  t.same(executedKeys(out2), []);
  t.equal(ws2.tasks.get('add-2')!.state, 'waiting');
  const g = gathers(out2);
  t.same(g.map((i) => [i.worker, i.keys]), [['tcp://A', ['a-1', 'b-1']], ['tcp://B', ['c-1']]], 'one get_data per peer');
  t.equal(g[0]!.totalBytes, 30);
  t.equal(ws2.tasks.get('a-1')!.state, 'flight');

  const fromA = ws2.handle({ op: 'gather-dep-success', worker: 'tcp://A', keys: ['a-1', 'b-1'], data: { 'a-1': encodeValue(1), 'b-1': encodeValue(2) } });
  t.match(sent(fromA), [{ op: 'add-keys', keys: ['a-1', 'b-1'] }]);
  t.same(executedKeys(fromA), [], 'still waiting for c-1');
  const fromB = ws2.handle({ op: 'gather-dep-success', worker: 'tcp://B', keys: ['c-1'], data: { 'c-1': encodeValue(3) } });
  t.same(executedKeys(fromB), [['add-2']]);
  t.same(Object.keys(executes(fromB)[0]!.batch[0]!.deps).sort(), ['a-1', 'b-1', 'c-1']);
});

t.test('a failed transfer tries another holder, then reports missing-data', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle(compute('f-1', { whoHas: { 'd-1': ['tcp://A', 'tcp://B'] }, nbytes: { 'd-1': 1 } }));
  const first = gathers(out)[0]!;
  const failed = ws.handle({ op: 'gather-dep-failure', worker: first.worker, keys: first.keys, error: { name: 'CommClosedError', message: 'gone' } });
  const second = gathers(failed);
  t.equal(second.length, 1);
  t.not(second[0]!.worker, first.worker);
  // The second holder answers without the key: nobody left.
  const empty = ws.handle({ op: 'gather-dep-success', worker: second[0]!.worker, keys: ['d-1'], data: {} });
  t.match(sent(empty), [{ op: 'missing-data', key: 'd-1', worker: second[0]!.worker }]);
  t.equal(ws.tasks.get('d-1')!.state, 'missing');
  // The scheduler sends the task again with a new holder.
  const retry = ws.handle(compute('f-1', { whoHas: { 'd-1': ['tcp://C'] }, nbytes: { 'd-1': 1 } }));
  t.same(gathers(retry).map((g) => g.worker), ['tcp://C']);
});

t.test('a busy peer is retried after the back-off', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  ws.handle(compute('f-2', { whoHas: { 'd-2': ['tcp://A'] }, nbytes: { 'd-2': 1 } }));
  const busy = ws.handle({ op: 'gather-dep-busy', worker: 'tcp://A', keys: ['d-2'] });
  t.same(gathers(busy), [], 'not asked again at once');
  t.match(busy, [{ kind: 'retry-busy-worker-later', worker: 'tcp://A', attempt: 1 }]);
  t.equal(ws.tasks.get('d-2')!.state, 'fetch');
  const retried = ws.handle({ op: 'retry-busy-worker', worker: 'tcp://A' });
  t.same(gathers(retried).map((g) => g.keys), [['d-2']]);
  const busyAgain = ws.handle({ op: 'gather-dep-busy', worker: 'tcp://A', keys: ['d-2'] });
  t.match(busyAgain, [{ kind: 'retry-busy-worker-later', attempt: 2 }]);
});

t.test('execute failure reports task-erred with the exception', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle(compute('boom-1'));
  const error = { name: 'TypeError', message: 'bad', stack: 'TypeError: bad' };
  const failed = ws.handle({ op: 'execute-failure', key: 'boom-1', batchId: batchIdOf(out, 'boom-1'), error, duration: 1 });
  t.equal(ws.tasks.get('boom-1')!.state, 'error');
  t.match(sent(failed), [{ op: 'task-erred', key: 'boom-1', exception: error }]);
  // Retried by the scheduler: computes again.
  const again = ws.handle(compute('boom-1'));
  t.same(executedKeys(again), [['boom-1']]);
});

t.test('free-keys while executing: cancelled, result dropped; asked again: resumes', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle(compute('slow-1'), compute('next-1'));
  t.same(executedKeys(out), [['slow-1']]);
  ws.handle({ op: 'free-keys', keys: ['slow-1'], stimulusId: 'f' });
  t.equal(ws.tasks.get('slow-1')!.state, 'cancelled');
  const finished = ws.handle(success('slow-1', batchIdOf(out, 'slow-1')));
  t.same(sent(finished), [], 'no task-finished for a cancelled task');
  t.equal(ws.tasks.has('slow-1'), false, 'forgotten');
  t.equal(ws.data.has('slow-1'), false);
  t.same(executedKeys(finished), [['next-1']], 'the thread slot was freed');

  // Cancelled then asked again before it ends: the running execution counts.
  const out2 = ws.handle(success('next-1', batchIdOf(executes(finished) as Instruction[], 'next-1')), compute('slow-2'));
  ws.handle({ op: 'free-keys', keys: ['slow-2'], stimulusId: 'f2' });
  t.equal(ws.tasks.get('slow-2')!.state, 'cancelled');
  ws.handle(compute('slow-2'));
  t.equal(ws.tasks.get('slow-2')!.state, 'executing');
  const done = ws.handle(success('slow-2', batchIdOf(out2, 'slow-2')));
  t.match(sent(done), [{ op: 'task-finished', key: 'slow-2' }]);
});

t.test('free-keys releases queued and in-memory tasks and forgets them', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle(compute('a-1'), compute('b-1'));
  t.same(executedKeys(out), [['a-1']]);
  ws.handle({ op: 'free-keys', keys: ['b-1'], stimulusId: 'x' });
  t.equal(ws.tasks.has('b-1'), false);
  const done = ws.handle(success('a-1', batchIdOf(out, 'a-1')));
  t.same(executedKeys(done), [], 'the released task does not run');
  ws.handle({ op: 'free-keys', keys: ['a-1', 'unknown'], stimulusId: 'y' });
  t.equal(ws.data.size, 0);
  t.equal(ws.memoryBytes, 0);
  t.equal(ws.tasks.size, 0);
});

t.test('dependencies fetched for a task are released with it unless the scheduler knows of them', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  ws.handle(compute('g-1', { whoHas: { 'dep-1': ['tcp://A'], 'dep-2': ['tcp://A'] }, nbytes: {} }));
  t.equal(ws.tasks.get('dep-1')!.state, 'flight');
  ws.handle({ op: 'free-keys', keys: ['g-1'], stimulusId: 'z' });
  t.equal(ws.tasks.get('dep-1')!.state, 'cancelled', 'in flight: cancelled');
  const landed = ws.handle({ op: 'gather-dep-success', worker: 'tcp://A', keys: ['dep-1', 'dep-2'], data: { 'dep-1': encodeValue(1), 'dep-2': encodeValue(2) } });
  t.same(sent(landed), [], 'cancelled transfers are dropped, not reported');
  t.equal(ws.tasks.size, 0);
  t.equal(ws.data.size, 0);
});

t.test('priority order: smaller priority tuples first, ties in arrival order', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle(
    compute('block-1', { priority: [-100] }),
    compute('p-low', { priority: [5, 1] }),
    compute('p-high', { priority: [1, 9] }),
    compute('p-mid-a', { priority: [3] }),
    compute('p-mid-b', { priority: [3] }),
  );
  t.same(executedKeys(out), [['block-1']]);
  const order: string[] = [];
  let current = out;
  let key = 'block-1';
  for (let i = 0; i < 4; i++) {
    current = ws.handle(success(key, batchIdOf(current, key)));
    const [batch] = executedKeys(current);
    key = batch![0]!;
    order.push(key);
  }
  t.same(order, ['p-high', 'p-mid-a', 'p-mid-b', 'p-low']);
});

t.test('at most nthreads execute at once', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 3 });
  const events = Array.from({ length: 10 }, (_, i) => compute(`work-${i}`));
  const out = ws.handle(...events);
  t.equal(executes(out).length, 3);
  t.equal(ws.executingCount, 3);
  t.equal(ws.slotsInUse, 3);
  const next = ws.handle(success('work-0', batchIdOf(out, 'work-0'), encodeValue(0), 50));
  t.same(executedKeys(next), [['work-3']], 'a slow prefix is not batched');
  t.equal(ws.executingCount, 3);
});

t.test('short tasks are batched, shared fairly over free threads; a lone task goes alone', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 2 });
  const first = ws.handle(compute('noop-first'));
  t.same(executedKeys(first), [['noop-first']], 'lone task, unknown duration: alone and at once');
  ws.handle(success('noop-first', batchIdOf(first, 'noop-first'), encodeValue(1), 0.01));
  const many = ws.handle(...Array.from({ length: 100 }, (_, i) => compute(`noop-${i}`)));
  t.same(executedKeys(many).map((b) => b.length), [32, 32], 'arrived together: two full batches');
  const oneByOne = new WorkerState({ address: self, nthreads: 2 });
  const warmup = oneByOne.handle(compute('tiny-0'));
  oneByOne.handle(success('tiny-0', batchIdOf(warmup, 'tiny-0'), encodeValue(1), 0.01));
  const arrivals = Array.from({ length: 40 }, (_, i) => oneByOne.handle(compute(`tiny-${i + 1}`)));
  t.same(arrivals.map((out) => executedKeys(out).map((b) => b.length)).slice(0, 3), [[1], [1], []], 'each arrival alone while threads are free');
  const freed = oneByOne.handle(success('tiny-1', batchIdOf(arrivals[0]!, 'tiny-1'), encodeValue(1), 0.01));
  t.same(executedKeys(freed).map((b) => b.length), [32], 'the queue drains in a batch');
  const lone = new WorkerState({ address: self, nthreads: 2 });
  const warm = lone.handle(compute('noop-a'));
  lone.handle(success('noop-a', batchIdOf(warm, 'noop-a'), encodeValue(1), 0.01));
  const pair = lone.handle(compute('noop-b'), compute('noop-c'), compute('noop-d'));
  t.same(executedKeys(pair), [['noop-b', 'noop-c'], ['noop-d']], 'split over both free threads');
  // Batch members report one by one; the slot frees when the last one does.
  const batchId = batchIdOf(pair, 'noop-b');
  lone.handle(success('noop-b', batchId, encodeValue(1), 0.01));
  t.equal(lone.slotsInUse, 2);
  lone.handle(success('noop-c', batchId, encodeValue(1), 0.01));
  t.equal(lone.slotsInUse, 1);
});

t.test('resources: constrained tasks wait for resources, never oversubscribe', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 4, resources: { GPU: 1 } });
  const out = ws.handle(
    compute('gpu-1', { resources: { GPU: 1 } }),
    compute('gpu-2', { resources: { GPU: 1 } }),
    compute('cpu-1'),
  );
  t.same(executedKeys(out), [['gpu-1'], ['cpu-1']]);
  t.equal(ws.tasks.get('gpu-2')!.state, 'constrained');
  t.equal(ws.availableResources.GPU, 0);
  const done = ws.handle(success('gpu-1', batchIdOf(out, 'gpu-1')));
  t.same(executedKeys(done), [['gpu-2']]);
  t.equal(ws.availableResources.GPU, 0);
  ws.handle(success('gpu-2', batchIdOf(done, 'gpu-2')));
  t.equal(ws.availableResources.GPU, 1);
  const tooMuch = ws.handle(compute('gpu-big', { resources: { GPU: 2 } }));
  t.same(executedKeys(tooMuch), []);
  t.equal(ws.tasks.get('gpu-big')!.state, 'constrained');
});

t.test('steal-request answers with the state and gives up queued tasks only', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle(compute('run-1'), compute('queued-1'));
  const stolen = ws.handle({ op: 'steal-request', key: 'queued-1', stimulusId: 'st1' });
  t.same(sent(stolen), [{ op: 'steal-response', key: 'queued-1', state: 'ready', stimulusId: 'st1' }]);
  t.equal(ws.tasks.has('queued-1'), false);
  const notStolen = ws.handle({ op: 'steal-request', key: 'run-1', stimulusId: 'st2' });
  t.same(sent(notStolen), [{ op: 'steal-response', key: 'run-1', state: 'executing', stimulusId: 'st2' }]);
  t.equal(ws.tasks.get('run-1')!.state, 'executing');
  const unknown = ws.handle({ op: 'steal-request', key: 'nope', stimulusId: 'st3' });
  t.same(sent(unknown), [{ op: 'steal-response', key: 'nope', state: null, stimulusId: 'st3' }]);
  t.same(executedKeys(ws.handle(success('run-1', batchIdOf(out, 'run-1')))), []);
});

t.test('cancel-compute releases a task that has not started', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  ws.handle(compute('r-1'), compute('w-1', { whoHas: { 'dep': ['tcp://A'] }, nbytes: {} }));
  ws.handle({ op: 'cancel-compute', key: 'w-1', stimulusId: 'c' }, { op: 'cancel-compute', key: 'r-1', stimulusId: 'c' });
  t.equal(ws.tasks.has('w-1'), false);
  t.equal(ws.tasks.get('dep')!.state, 'cancelled', 'its in-flight dependency is cancelled');
  t.equal(ws.tasks.get('r-1')!.state, 'executing', 'a running task is not cancelled');
});

t.test('acquire-replicas fetches; remove-replicas drops unless needed', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const out = ws.handle({ op: 'acquire-replicas', whoHas: { 'r-1': ['tcp://A'], 'r-2': ['tcp://A'] }, nbytes: { 'r-1': 1, 'r-2': 1 }, stimulusId: 'a' });
  t.same(gathers(out).map((g) => g.keys), [['r-1', 'r-2']]);
  const landed = ws.handle({ op: 'gather-dep-success', worker: 'tcp://A', keys: ['r-1', 'r-2'], data: { 'r-1': encodeValue(1), 'r-2': encodeValue(2) } });
  t.match(sent(landed), [{ op: 'add-keys', keys: ['r-1', 'r-2'] }]);
  // r-2 is needed by a task still waiting for another dependency.
  ws.handle(compute('user-1', { whoHas: { 'r-2': ['tcp://A'], 'other': ['tcp://B'] }, nbytes: {} }));
  t.equal(ws.tasks.get('user-1')!.state, 'waiting');
  const removed = ws.handle({ op: 'remove-replicas', keys: ['r-1', 'r-2', 'absent'], stimulusId: 'rm' });
  t.equal(ws.data.has('r-1'), false);
  t.equal(ws.tasks.has('r-1'), false);
  t.match(sent(removed), [{ op: 'add-keys', keys: ['r-2'] }], 'needed by a local task: rejected');
  t.equal(ws.data.has('r-2'), true);
});

t.test('update-data puts values in memory and unblocks dependents', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  ws.handle(compute('use-1', { whoHas: { 'data-1': ['tcp://gone'] }, nbytes: {} }));
  t.equal(ws.tasks.get('data-1')!.state, 'flight');
  const out = ws.handle({ op: 'update-data', data: { 'data-1': encodeValue([1, 2]) } });
  t.equal(ws.tasks.get('data-1')!.state, 'memory');
  t.same(executedKeys(out), [['use-1']]);
  // The transfer that was in flight comes back: nothing changes.
  const late = ws.handle({ op: 'gather-dep-success', worker: 'tcp://gone', keys: ['data-1'], data: { 'data-1': encodeValue(0) } });
  t.same(sent(late), []);
});

t.test('pause stops new executions and transfers; unpause resumes', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const paused = ws.handle({ op: 'pause' });
  t.match(sent(paused), [{ op: 'worker-status-change', status: 'paused' }]);
  const out = ws.handle(compute('p-1'), compute('p-2', { whoHas: { 'x': ['tcp://A'] }, nbytes: {} }));
  t.same(executedKeys(out), []);
  t.same(gathers(out), []);
  const resumed = ws.handle({ op: 'unpause' });
  t.match(sent(resumed), [{ op: 'worker-status-change', status: 'running' }]);
  t.same(executedKeys(resumed), [['p-1']]);
  t.same(gathers(resumed).map((g) => g.keys), [['x']]);
});

t.test('compute requested for a key being fetched: resumed, and the fetched value answers it', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  ws.handle(compute('c-1', { whoHas: { 'k-1': ['tcp://A'] }, nbytes: {} }));
  ws.handle(compute('k-1'));
  t.equal(ws.tasks.get('k-1')!.state, 'resumed');
  const landed = ws.handle({ op: 'gather-dep-success', worker: 'tcp://A', keys: ['k-1'], data: { 'k-1': encodeValue(5) } });
  t.match(sent(landed), [{ op: 'task-finished', key: 'k-1' }]);
  t.same(executedKeys(landed), [['c-1']]);

  // Same, but the transfer fails: it is computed here instead.
  const ws2 = new WorkerState({ address: self, nthreads: 1 });
  ws2.handle(compute('c-2', { whoHas: { 'k-2': ['tcp://A'] }, nbytes: {} }));
  ws2.handle(compute('k-2'));
  const failed = ws2.handle({ op: 'gather-dep-failure', worker: 'tcp://A', keys: ['k-2'], error: { name: 'Error', message: 'x' } });
  t.same(executedKeys(failed), [['k-2']]);
});

t.test('malformed or unknown events are refused without stopping the others', async (t) => {
  const ws = new WorkerState({ address: self, nthreads: 1 });
  const bad = [
    { op: 'nonsense' },
    { ...compute('m-1'), whoHas: { dep: 'not-an-array' } },
    { ...compute('m-2'), runSpec: { fn: {}, args: 'text' } },
    { ...compute('m-3'), priority: 'high' },
    { op: 'free-keys', keys: 'k', stimulusId: 's' },
    { op: 'update-data', data: { k: [1, 2] } },
    null,
  ] as unknown as WorkerEvent[];
  const out = ws.handle(...bad, compute('good-1'));
  const failures = out.flatMap((i) => (i.kind === 'event-failed' ? [i] : []));
  t.equal(failures.length, bad.length);
  t.match(String(failures[0]!.error), /unknown event "nonsense"/);
  t.match(String(failures[1]!.error), /whoHas of m-1/);
  t.match(String(failures[2]!.error), /runSpec of m-2/);
  t.match(String(failures[3]!.error), /priority of m-3/);
  t.equal(ws.tasks.has('m-1'), false, 'nothing changed for a refused event');
  t.same(executedKeys(out), [['good-1']]);
});
