import t from 'tap';
import { TaskQueue, ResourceWaitQueues, rootishSlotLimit, DEFAULT_QUEUING } from '../dist/lib/scheduler/queuing.js';
import { TaskRecord, hostOfAddress, WorkerRecord } from '../dist/lib/scheduler/records.js';
import { TaskPrefix, TaskPrefixes, prefixName } from '../dist/lib/scheduler/task-prefix.js';
import { orderNewTasks } from '../dist/lib/scheduler/graph-validation.js';
import { TransitionLog } from '../dist/machines/transition-log.js';
import { planScatter } from '../dist/lib/scheduler/scatter-placement.js';
import { contains, count, toArray, withMember, withoutMember, type OneOrMany } from '../dist/lib/scheduler/one-or-many.js';
import { InvalidGraphError } from '../dist/lib/errors.js';
import { task } from './fixtures/scheduler-harness.js';

const prefix = new TaskPrefix('t');
function rec(order: number, userPriority = 0): TaskRecord {
  const ts = new TaskRecord(`t-${order}`, prefix, undefined, undefined);
  ts.order = order;
  ts.userPriority = userPriority;
  return ts;
}

t.test('TaskQueue pops by priority whatever the push order, and removes from anywhere', async (t) => {
  const q = new TaskQueue();
  const inOrder = Array.from({ length: 50 }, (_, i) => rec(i * 2));
  for (const ts of inOrder) q.push(ts);
  const late = [rec(7), rec(1), rec(55), rec(3, 5)];
  for (const ts of late) q.push(ts);
  t.equal(q.size, 54);
  t.equal(q.peek()!.key, 't-3', 'a higher user priority comes first');
  t.ok(q.remove(inOrder[10]!));
  t.notOk(q.remove(inOrder[10]!), 'removing twice is a no-op');
  t.ok(q.remove(late[1]!));
  t.notOk(q.has(inOrder[10]!));
  t.ok(q.has(inOrder[11]!));
  t.equal(q.values().length, 52);
  const popped: number[] = [];
  while (q.size > 0) popped.push(q.pop()!.order);
  const expected = [3, ...[...inOrder.map((ts) => ts.order).filter((o) => o !== 20), 7, 55].sort((a, b) => a - b)];
  t.same(popped, expected);
  t.equal(q.pop(), undefined);
  // Re-queue a record that left a hole behind: it must come out exactly once.
  const again = rec(100);
  q.push(again);
  q.remove(again);
  q.push(again);
  t.same([q.pop(), q.pop()], [again, undefined]);
});

t.test('TaskQueue stays correct across compaction of a long run', async (t) => {
  const q = new TaskQueue();
  const all = Array.from({ length: 5000 }, (_, i) => rec(i));
  for (const ts of all) q.push(ts);
  const popped: number[] = [];
  for (let i = 0; i < 4000; i++) popped.push(q.pop()!.order);
  t.same(popped, all.slice(0, 4000).map((ts) => ts.order), 'in order through compactions');
  for (const ts of all.slice(4000, 4100)) q.remove(ts);
  t.equal(q.size, 900);
  t.equal(q.pop()!.order, 4100);
  t.ok(q.has(all[4500]!));
});

t.test('TaskQueue keeps order, holes and membership across many chunks of its run', async (t) => {
  const q = new TaskQueue();
  const n = 3 * 4096 + 17;
  const all = Array.from({ length: n }, (_, i) => rec(i));
  for (const ts of all) q.push(ts);
  t.equal(q.size, n);
  // Holes at chunk edges and inside chunks; an out-of-order push goes to the heap.
  const removed = [0, 4095, 4096, 8191, 8192, 9000, n - 1];
  for (const i of removed) t.ok(q.remove(all[i]!), `removed ${i}`);
  const late = rec(5000.5);
  q.push(late);
  t.ok(q.has(all[4097]!) && q.has(late) && !q.has(all[4096]!));
  t.equal(q.values().length, n - removed.length + 1);
  const popped: number[] = [];
  for (let i = 0; i < 6000; i++) popped.push(q.pop()!.order);
  const expected = [...all.map((ts) => ts.order).filter((o) => !removed.includes(o)), 5000.5].sort((a, b) => a - b);
  t.same(popped, expected.slice(0, 6000), 'pops in priority order across chunk boundaries');
  t.notOk(q.has(all[10]!), 'a popped task is no longer queued');
  t.ok(q.has(all[6002]!), 'a task in a later chunk still is');
  while (q.size > 0) popped.push(q.pop()!.order);
  t.same(popped, expected, 'then the rest, in order');
  // Empty again: the run starts afresh, and an old record can be queued once more.
  q.push(all[3]!);
  q.push(all[2]!);
  t.same([q.pop()!.order, q.pop()!.order, q.pop()], [2, 3, undefined]);
});

t.test('ResourceWaitQueues drains each group from its best task while it fits', async (t) => {
  const waiting = new ResourceWaitQueues();
  const gpu = [rec(1), rec(2), rec(3)];
  const big = [rec(4)];
  for (const ts of gpu) ts.restrictions = { resources: { GPU: 1 } };
  big[0]!.restrictions = { resources: { GPU: 4 } };
  for (const ts of [...gpu, ...big]) waiting.add(ts);
  let free = 2;
  const placed: number[] = [];
  waiting.drain((ts) => {
    const need = ts.restrictions!.resources!.GPU!;
    if (need > free) return false;
    free -= need;
    placed.push(ts.order);
    return true;
  });
  t.same(placed, [1, 2]);
  t.equal(waiting.size, 2);
  t.ok(waiting.has(gpu[2]!));
  t.ok(waiting.delete(gpu[2]!));
  t.same([...waiting.values()].map((ts) => ts.order), [4]);
});

t.test('root-ish slot limits', async (t) => {
  t.equal(rootishSlotLimit(4, -1, DEFAULT_QUEUING), 5, 'unknown duration: ceil(1.1 x nthreads)');
  t.equal(rootishSlotLimit(4, 1000, DEFAULT_QUEUING), 5, 'long tasks: saturation term');
  t.equal(rootishSlotLimit(4, 0.5, DEFAULT_QUEUING), 16, '2 ms of work per thread');
  t.equal(rootishSlotLimit(4, 0, DEFAULT_QUEUING), 1000, 'capped');
  t.equal(rootishSlotLimit(1, -1, { ...DEFAULT_QUEUING, workerSaturation: 0.1 }), 1, 'never below one');
});

t.test('prefixes: key up to the last dash, interned', async (t) => {
  t.equal(prefixName('inc-abc'), 'inc');
  t.equal(prefixName('a-b-c'), 'a-b');
  t.equal(prefixName('plain'), 'plain');
  const prefixes = new TaskPrefixes();
  const a = prefixes.get('inc-1');
  t.equal(prefixes.get('inc-2'), a);
  t.not(prefixes.get('inc-x-2'), a);
  t.equal(prefixes.get('inc-3'), a);
  a.addDuration(10);
  a.addDuration(20);
  t.equal(a.durationAverage, 15);
});

t.test('graph ordering: dependencies first; cycles, unknown keys and bad shapes refused', async (t) => {
  const known = new Set(['old-1']);
  const isKnown = (k: string): boolean => known.has(k);
  const ordered = orderNewTasks([task('c-1', ['b-1']), task('b-1', ['a-1', 'old-1']), task('a-1'), task('old-1')], ['c-1'], isKnown);
  t.same(ordered.map((x) => x.key), ['a-1', 'b-1', 'c-1']);
  t.same(orderNewTasks([task('x-1'), task('old-1')], ['x-1', 'old-1'], isKnown).map((x) => x.key), ['x-1'], 'known tasks are left alone');
  t.throws(() => orderNewTasks([task('a-1', ['b-1']), task('b-1', ['c-1']), task('c-1', ['a-1'])], [], isKnown), { name: 'InvalidGraphError', message: /cycle/ });
  t.throws(() => orderNewTasks([task('a-1', ['zz-1'])], [], isKnown), InvalidGraphError);
  t.throws(() => orderNewTasks([task('a-1')], ['b-1'], isKnown), /wanted keys/);
  t.throws(() => orderNewTasks([task('a-1')], ['a-1', 'b-1'], isKnown), /wanted keys/, 'checked off the fast path too');
  t.throws(() => orderNewTasks([{ key: 5 } as unknown as ReturnType<typeof task>], [], isKnown), /no string key/);
  t.throws(() => orderNewTasks([task('a-1', [], { retries: -1 })], [], isKnown), /retries/);
  t.throws(() => orderNewTasks('nope' as unknown as [], [], isKnown), /tasks must be an array/);
});

t.test('one-or-many sets', async (t) => {
  const a = { n: 1 };
  const b = { n: 2 };
  let s: OneOrMany<{ n: number }> = undefined;
  s = withMember(s, a);
  t.equal(s, a, 'one member is kept inline');
  s = withMember(s, a);
  t.equal(count(s), 1);
  s = withMember(s, b);
  t.ok(s instanceof Set);
  t.ok(contains(s, b));
  s = withoutMember(s, a);
  t.equal(s, b, 'back to inline at one member');
  t.same(toArray(s), [b]);
  s = withoutMember(s, b);
  t.equal(s, undefined);
  t.notOk(contains(s, a));
});

t.test('worker records: hosts from addresses, resources', async (t) => {
  t.equal(hostOfAddress('tcp://10.0.0.5:8786'), '10.0.0.5');
  t.equal(hostOfAddress('tcp://[::1]:80'), '::1');
  t.equal(hostOfAddress('inproc://123/4'), '127.0.0.1');
  const ws = new WorkerRecord({ address: 'tcp://h:1', nthreads: 2, resources: { GPU: 2 } });
  t.ok(ws.advertises({ GPU: 2 }));
  t.notOk(ws.advertises({ GPU: 3 }));
  t.notOk(ws.advertises({ TPU: 1 }));
  ws.takeResources({ GPU: 2 });
  t.notOk(ws.hasFreeResources({ GPU: 1 }));
  ws.returnResources({ GPU: 1 });
  t.ok(ws.hasFreeResources({ GPU: 1 }));
  t.equal(ws.name, 'tcp://h:1');
});

t.test('transition log keeps the newest entries in order', async (t) => {
  const log = new TransitionLog(3);
  for (let i = 0; i < 5; i++) log.record(`k-${i}`, 'released', 'waiting', `s-${i}`, i);
  t.same(log.entries().map((e) => e.key), ['k-2', 'k-3', 'k-4']);
  t.equal(log.total, 5);
  t.same(log.story('k-3'), [{ key: 'k-3', start: 'released', finish: 'waiting', stimulusId: 's-3', time: 3 }]);
  t.throws(() => new TransitionLog(0), RangeError);
});

t.test('scatter plans continue round-robin where the last one stopped', async (t) => {
  const a = new WorkerRecord({ address: 'a', nthreads: 1 });
  const b = new WorkerRecord({ address: 'b', nthreads: 1 });
  const first = planScatter(['k1'], [a, b], false, 0);
  t.same([...first.byWorker.keys()], [a]);
  const second = planScatter(['k2'], [a, b], false, first.nextCursor);
  t.same([...second.byWorker.keys()], [b]);
  t.same(planScatter([], [a], false, 3).byWorker.size, 0);
});

t.test('outbox: free-keys coalesce only with an adjacent free-keys, keeping order', async (t) => {
  const { Outbox } = await import('../dist/lib/scheduler/outbox.js');
  const ws = new WorkerRecord({ address: 'tcp://w:1', nthreads: 1 });
  const out = new Outbox('s-1');
  out.freeKey(ws, 'a');
  out.freeKey(ws, 'b');
  out.worker(ws, { op: 'compute-task', key: 'k' });
  out.freeKey(ws, 'k');
  t.same(out.toWorkers.get('tcp://w:1')!.map((m) => `${m.op}:${(m.keys as string[] | undefined)?.join(',') ?? m.key}`), [
    'free-keys:a,b',
    'compute-task:k',
    'free-keys:k',
  ]);
  ws.status = 'closed';
  out.freeKey(ws, 'z');
  t.equal(out.toWorkers.get('tcp://w:1')!.length, 3, 'nothing is queued for a removed worker');
  t.equal(new Outbox('s-2').empty, true);
});
