import t from 'tap';
import { InvalidTransitionError } from '../dist/machines/transition-table.js';
import { SchedulerState } from '../dist/lib/scheduler/state.js';
import { addWorker, computed, fail, finish, freed, harness, sid, stateOf, task, toClient, toWorker } from './fixtures/scheduler-harness.js';

t.test('a diamond runs in dependency order and compute-task carries who_has', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1', 2);
  let out = s.updateGraph('c1', [task('a-1'), task('b-1', ['a-1']), task('c-1', ['a-1']), task('d-1', ['b-1', 'c-1'])], ['d-1'], sid());
  t.same(computed(out, 'tcp://w:1'), ['a-1']);
  t.same(['a-1', 'b-1', 'c-1', 'd-1'].map((k) => stateOf(s, k)), ['processing', 'waiting', 'waiting', 'waiting']);
  t.same([...s.tasks.get('d-1')!.waitingOn!].map((ts) => ts.key).sort(), ['b-1', 'c-1']);

  out = finish(s, 'a-1', { nbytes: 100 });
  t.same(computed(out, 'tcp://w:1').sort(), ['b-1', 'c-1'], 'finishing a makes b and c runnable');
  const msg = toWorker(out, 'tcp://w:1', 'compute-task')[0]!;
  t.same(msg.whoHas, { 'a-1': ['tcp://w:1'] });
  t.same(msg.nbytes, { 'a-1': 100 });
  t.equal(typeof msg.runId, 'number');
  t.equal(msg.priority instanceof Array && msg.priority.length, 3);

  out = finish(s, 'b-1');
  t.same(computed(out, 'tcp://w:1'), [], 'd still waits on c');
  t.same(freed(out, 'tcp://w:1'), [], 'a is still needed by c');
  out = finish(s, 'c-1');
  t.same(computed(out, 'tcp://w:1'), ['d-1']);
  t.same(freed(out, 'tcp://w:1'), ['a-1'], 'a is freed once b and c are done');
  t.same(toWorker(out, 'tcp://w:1', 'compute-task')[0]!.whoHas, { 'b-1': ['tcp://w:1'], 'c-1': ['tcp://w:1'] });
  t.equal(stateOf(s, 'a-1'), 'released', 'a stays known (released) while dependents exist');

  out = finish(s, 'd-1');
  t.same(toClient(out, 'c1'), [{ op: 'key-in-memory', key: 'd-1', type: 'number', nbytes: 8 }]);
  t.same(freed(out, 'tcp://w:1').sort(), ['b-1', 'c-1']);
  t.same(
    s.transitionLog.story('d-1').map((e) => `${e.start}>${e.finish}`),
    ['released>waiting', 'waiting>processing', 'processing>memory'],
  );

  out = s.clientReleasesKeys('c1', ['d-1'], sid());
  t.same(freed(out, 'tcp://w:1'), ['d-1']);
  t.equal(s.tasks.size, 0, 'everything is forgotten once nobody wants d');
});

t.test('an error propagates the original exception to dependents, even ones submitted later', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1'), task('y-1', ['x-1'])], ['x-1', 'y-1'], sid());
  let out = fail(s, 'x-1', 'original failure');
  const erred = toClient(out, 'c1', 'task-erred');
  t.same(erred.map((m) => m.key).sort(), ['x-1', 'y-1']);
  for (const m of erred) t.match(m.exception, { name: 'Error', message: 'original failure' });
  t.equal(stateOf(s, 'y-1'), 'erred');
  t.equal(s.tasks.get('y-1')!.exceptionBlame!.key, 'x-1');

  out = s.updateGraph('c2', [task('z-1', ['x-1'])], ['z-1'], sid());
  t.same(toClient(out, 'c2'), [{ op: 'task-erred', key: 'z-1', exception: { name: 'Error', message: 'original failure' } }]);
  t.equal(stateOf(s, 'z-1'), 'erred');
  t.same(computed(out, 'tcp://w:1'), []);

  // An erred task is kept while a dependent is wanted, and forgotten afterwards.
  s.clientReleasesKeys('c1', ['x-1'], sid());
  t.equal(stateOf(s, 'x-1'), 'erred');
  s.clientReleasesKeys('c1', ['y-1'], sid());
  s.clientReleasesKeys('c2', ['z-1'], sid());
  t.equal(s.tasks.size, 0);
});

t.test('erred tasks do not block others on a one-thread worker', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('bad-1'), task('good-1'), task('good-2')], ['bad-1', 'good-1', 'good-2'], sid());
  t.equal(stateOf(s, 'good-2'), 'queued');
  const out = fail(s, 'bad-1');
  t.same(computed(out, 'tcp://w:1'), ['good-2'], 'the failed task frees its slot');
  finish(s, 'good-1');
  finish(s, 'good-2');
  t.same(['bad-1', 'good-1', 'good-2'].map((k) => stateOf(s, k)), ['erred', 'memory', 'memory']);
});

t.test('retries re-run a failing task; the last error is reported when they run out', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('flaky-1', [], { retries: 2 })], ['flaky-1'], sid());
  const runIds = [s.tasks.get('flaky-1')!.runId];
  for (let attempt = 1; attempt <= 2; attempt++) {
    const out = fail(s, 'flaky-1', `attempt ${attempt}`);
    t.same(computed(out, 'tcp://w:1'), ['flaky-1'], `attempt ${attempt} is re-sent`);
    t.same(freed(out, 'tcp://w:1'), ['flaky-1'], 'the worker forgets the failed run first');
    t.same(toClient(out, 'c1'), []);
    runIds.push(s.tasks.get('flaky-1')!.runId);
  }
  t.equal(new Set(runIds).size, 3, 'each run has its own runId');
  const out = fail(s, 'flaky-1', 'attempt 3');
  t.same(toClient(out, 'c1', 'task-erred').map((m) => (m.exception as { message: string }).message), ['attempt 3']);
  t.equal(stateOf(s, 'flaky-1'), 'erred');
});

t.test('retry() re-runs erred tasks from their erred roots', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1'), task('y-1', ['x-1'])], ['y-1'], sid());
  fail(s, 'x-1');
  t.equal(stateOf(s, 'y-1'), 'erred');
  const out = s.retry('c1', ['y-1'], sid());
  t.same(toClient(out, 'c1', 'task-retried').map((m) => m.key), ['y-1']);
  t.equal(stateOf(s, 'x-1'), 'processing');
  t.equal(stateOf(s, 'y-1'), 'waiting');
  t.same(freed(out, 'tcp://w:1'), ['x-1'], 'the worker drops the old error');
  finish(s, 'x-1');
  const done = finish(s, 'y-1');
  t.same(toClient(done, 'c1', 'key-in-memory').map((m) => m.key), ['y-1']);
});

t.test('a stale result (old runId, or for a forgotten key) is not accepted', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1')], ['x-1'], sid());
  const ts = s.tasks.get('x-1')!;
  let out = s.taskFinished('tcp://w:1', { key: 'x-1', runId: ts.runId + 100, nbytes: 1, type: 'n', duration: 1 }, sid());
  t.equal(ts.state, 'processing');
  out = s.taskFinished('tcp://w:1', { key: 'nope-1', runId: 1, nbytes: 1, type: 'n', duration: 1 }, sid());
  t.same(freed(out, 'tcp://w:1'), ['nope-1'], 'the worker is told to drop a value nobody knows');
});

t.test('release and forget: free-keys go to holders; a key shared by two clients lives until both release', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1')], ['x-1'], sid());
  const second = s.updateGraph('c2', [task('x-1')], ['x-1'], sid());
  t.same(computed(second, 'tcp://w:1'), [], 'the same key is computed once');
  finish(s, 'x-1');
  let out = s.clientReleasesKeys('c1', ['x-1'], sid());
  t.equal(stateOf(s, 'x-1'), 'memory');
  t.same(freed(out, 'tcp://w:1'), []);
  out = s.clientReleasesKeys('c2', ['x-1'], sid());
  t.same(freed(out, 'tcp://w:1'), ['x-1']);
  t.equal(stateOf(s, 'x-1'), 'forgotten');
  out = s.updateGraph('c1', [task('x-1')], ['x-1'], sid());
  t.same(computed(out, 'tcp://w:1'), ['x-1'], 'a released key is recomputed when submitted again');
});

t.test('releasing a key while it is processing stops it on the worker', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1')], ['x-1'], sid());
  const out = s.clientReleasesKeys('c1', ['x-1'], sid());
  t.same(freed(out, 'tcp://w:1'), ['x-1']);
  t.equal(s.tasks.size, 0);
  t.equal(s.workers.get('tcp://w:1')!.processing.size, 0);
});

t.test('client gone: all its keys are released', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1'), task('y-1')], ['x-1', 'y-1'], sid());
  finish(s, 'x-1');
  const out = s.removeClient('c1', sid());
  t.same(freed(out, 'tcp://w:1').sort(), ['x-1', 'y-1']);
  t.equal(s.tasks.size, 0);
  t.notOk(s.clients.has('c1'));
});

t.test('cancel: the sole wanter cancels a key and its dependents; a shared key survives', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1'), task('y-1', ['x-1'])], ['x-1', 'y-1'], sid());
  let out = s.cancelKeys('c1', ['x-1'], false, sid());
  t.same(toClient(out, 'c1', 'cancelled-keys').flatMap((m) => m.keys as string[]).sort(), ['x-1', 'y-1']);
  t.same(freed(out, 'tcp://w:1'), ['x-1']);
  t.equal(s.tasks.size, 0);

  s.updateGraph('c1', [task('s-1')], ['s-1'], sid());
  s.updateGraph('c2', [task('s-1')], ['s-1'], sid());
  out = s.cancelKeys('c1', ['s-1'], false, sid());
  t.same(toClient(out, 'c1'), [], 'not cancelled: another client wants it');
  t.equal(stateOf(s, 's-1'), 'processing');
  out = s.cancelKeys('c1', ['s-1'], true, sid());
  t.same(toClient(out, 'c1', 'cancelled-keys')[0]!.keys, ['s-1']);
  t.same(toClient(out, 'c2', 'cancelled-keys')[0]!.keys, ['s-1'], 'force cancels it for every client');
  t.equal(stateOf(s, 's-1'), 'forgotten');
});

t.test('a cycle or an unknown dependency is refused with InvalidGraphError and changes nothing', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('ok-1')], ['ok-1'], sid());
  let out = s.updateGraph('c1', [task('a-1', ['b-1']), task('b-1', ['a-1']), task('c-1')], ['a-1', 'c-1', 'ok-1'], sid());
  const erred = toClient(out, 'c1', 'task-erred');
  t.same(erred.map((m) => m.key).sort(), ['a-1', 'b-1', 'c-1'], 'every new key of the update errs; the known one does not');
  t.match(erred[0]!.exception, { name: 'InvalidGraphError', message: /cycle/ });
  t.same([...s.tasks.keys()], ['ok-1']);
  t.same(computed(out, 'tcp://w:1'), []);

  out = s.updateGraph('c1', [task('d-1', ['missing-1'])], ['d-1'], sid());
  t.match(toClient(out, 'c1', 'task-erred')[0], { key: 'd-1', exception: { name: 'InvalidGraphError', message: /missing-1/ } });
  out = s.updateGraph('c1', [task('self-1', ['self-1'])], ['self-1'], sid());
  t.match(toClient(out, 'c1', 'task-erred')[0], { key: 'self-1', exception: { name: 'InvalidGraphError' } });
  out = s.updateGraph('c1', [{ key: 'nospec-1', dependencies: [] }], ['nospec-1'], sid());
  t.match(toClient(out, 'c1', 'task-erred')[0], { key: 'nospec-1', exception: { name: 'InvalidGraphError' } });
  out = s.updateGraph('c1', 'garbage' as unknown as [], ['g-1'], sid());
  t.match(toClient(out, 'c1', 'task-erred'), [{ key: 'g-1', exception: { name: 'InvalidGraphError', message: /tasks must be an array/ } }]);
  t.same([...s.tasks.keys()], ['ok-1']);
});

t.test('workers= restrictions by name, host or address; unknown -> no-worker until it joins; allowOtherWorkers', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://10.0.0.1:1', 1, { name: 'alice' });
  addWorker(s, 'tcp://10.0.0.2:1', 1, { name: 'bob' });
  let out = s.updateGraph('c1', [task('n-1', [], { restrictions: { workers: ['bob'] } })], ['n-1'], sid());
  t.same(computed(out, 'tcp://10.0.0.2:1'), ['n-1'], 'by name');
  out = s.updateGraph('c1', [task('h-1', [], { restrictions: { workers: ['10.0.0.1'] } })], ['h-1'], sid());
  t.same(computed(out, 'tcp://10.0.0.1:1'), ['h-1'], 'by host');
  out = s.updateGraph('c1', [task('a-1', [], { restrictions: { workers: ['tcp://10.0.0.2:1'] } })], ['a-1'], sid());
  t.same(computed(out, 'tcp://10.0.0.2:1'), ['a-1'], 'by address');

  out = s.updateGraph('c1', [task('u-1', [], { restrictions: { workers: ['carol'] } })], ['u-1'], sid());
  t.equal(stateOf(s, 'u-1'), 'no-worker');
  t.equal(out.toWorkers.size, 0);
  out = s.updateGraph('c1', [task('l-1', [], { restrictions: { workers: ['carol'], allowOtherWorkers: true } })], ['l-1'], sid());
  t.equal(stateOf(s, 'l-1'), 'processing', 'loose restrictions run elsewhere');

  out = addWorker(s, 'tcp://10.0.0.3:1', 1, { name: 'carol' });
  t.same(computed(out, 'tcp://10.0.0.3:1'), ['u-1'], 'runs as soon as a matching worker joins');
  t.equal(stateOf(s, 'u-1'), 'processing');
});

t.test('with no workers, tasks wait and run when a worker joins', async (t) => {
  const { s } = harness();
  s.updateGraph('c1', [task('r-1'), task('r-2'), task('d-1', ['r-1'])], ['r-2', 'd-1'], sid());
  t.same(['r-1', 'r-2', 'd-1'].map((k) => stateOf(s, k)), ['queued', 'queued', 'waiting']);
  const out = addWorker(s, 'tcp://w:1', 2);
  t.same(computed(out, 'tcp://w:1'), ['r-1', 'r-2']);
});

t.test('resources: only workers advertising them, never oversubscribed', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://cpu:1', 4);
  addWorker(s, 'tcp://gpu:1', 4, { resources: { GPU: 2 } });
  const tasks = ['g-1', 'g-2', 'g-3', 'g-4'].map((k) => task(k, [], { restrictions: { resources: { GPU: 1 } } }));
  let out = s.updateGraph('c1', tasks, tasks.map((x) => x.key), sid());
  t.same(computed(out, 'tcp://gpu:1'), ['g-1', 'g-2']);
  t.same(computed(out, 'tcp://cpu:1'), []);
  t.same(['g-3', 'g-4'].map((k) => stateOf(s, k)), ['queued', 'queued']);
  t.same(toWorker(out, 'tcp://gpu:1', 'compute-task')[0]!.resources, { GPU: 1 });
  out = finish(s, 'g-2');
  t.same(computed(out, 'tcp://gpu:1'), ['g-3'], 'a freed resource lets the next task in');
  t.equal(s.workers.get('tcp://gpu:1')!.usedResources!.GPU, 2);
  out = s.updateGraph('c1', [task('big-1', [], { restrictions: { resources: { GPU: 3 } } })], ['big-1'], sid());
  t.equal(stateOf(s, 'big-1'), 'no-worker', 'no worker has 3 GPUs');
  finish(s, 'g-1');
  finish(s, 'g-3');
  finish(s, 'g-4');
  t.equal(s.workers.get('tcp://gpu:1')!.usedResources!.GPU, 0);
});

t.test('data locality: a task goes where its big dependency is', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://a:1', 1);
  addWorker(s, 'tcp://b:1', 1);
  s.addData('c1', [{ key: 'big-1', nbytes: 50_000_000, workers: ['tcp://a:1'] }, { key: 'small-1', nbytes: 10, workers: ['tcp://b:1'] }], sid());
  let out = s.updateGraph('c1', [task('z-1', ['big-1', 'small-1'])], ['z-1'], sid());
  t.same(computed(out, 'tcp://a:1'), ['z-1']);
  t.same(toWorker(out, 'tcp://a:1', 'compute-task')[0]!.whoHas, { 'big-1': ['tcp://a:1'], 'small-1': ['tcp://b:1'] });
  out = s.updateGraph('c1', [task('z-2', ['small-1'])], ['z-2'], sid());
  t.same(computed(out, 'tcp://b:1'), ['z-2'], 'and to the holder of a small one when that is all');
});

t.test('many submits spread evenly across workers', async (t) => {
  const { s } = harness();
  const workers = ['tcp://a:1', 'tcp://b:1', 'tcp://c:1', 'tcp://d:1'];
  for (const w of workers) addWorker(s, w, 2);
  const out = s.updateGraph('c1', Array.from({ length: 8 }, (_, i) => task(`inc-${i}`)), Array.from({ length: 8 }, (_, i) => `inc-${i}`), sid());
  t.same(workers.map((w) => computed(out, w).length), [2, 2, 2, 2]);
  // Separate submits (as a client's map in several ticks) spread the same way.
  const { s: s2 } = harness();
  for (const w of workers) addWorker(s2, w, 1);
  const counts = new Map<string, number>();
  for (let i = 0; i < 8; i++) {
    const o = s2.updateGraph('c1', [task(`inc-${i}`)], [`inc-${i}`], sid());
    for (const [w, keys] of o.toWorkers) counts.set(w, (counts.get(w) ?? 0) + keys.length);
  }
  t.same(workers.map((w) => counts.get(w)), [2, 2, 2, 2]);
});

t.test('root tasks are queued beyond the worker slots and freed slots pull in priority order', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1', 2);
  const keys = Array.from({ length: 20 }, (_, i) => `slow-${i}`);
  const out = s.updateGraph('c1', keys.map((k) => task(k)), keys, sid());
  t.same(computed(out, 'tcp://w:1'), ['slow-0', 'slow-1', 'slow-2'], 'ceil(1.1 x 2) = 3 slots while the duration is unknown');
  t.equal(s.queued.size, 17);
  let next = finish(s, 'slow-0', { duration: 1000 });
  t.same(computed(next, 'tcp://w:1'), ['slow-3'], 'a long task frees exactly one slot');
  // A high-priority submission jumps the queue.
  s.updateGraph('c1', [task('urgent-1', [], { priority: 10 })], ['urgent-1'], sid());
  t.equal(stateOf(s, 'urgent-1'), 'queued');
  next = finish(s, 'slow-1', { duration: 1000 });
  t.same(computed(next, 'tcp://w:1'), ['urgent-1']);
  // Tiny tasks: the slot count grows so the worker always has work queued.
  const { s: fast } = harness();
  addWorker(fast, 'tcp://w:1', 2);
  const many = Array.from({ length: 2000 }, (_, i) => `tiny-${i}`);
  fast.updateGraph('c1', many.map((k) => task(k)), many, sid());
  const after = finish(fast, 'tiny-0', { duration: 0.001 });
  const processing = fast.workers.get('tcp://w:1')!.processing.size;
  t.equal(processing, 1000, 'capped at 1000 slots for very short tasks');
  t.equal(computed(after, 'tcp://w:1').length, 998);
});

t.test('long-running tasks give their slot back', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1', 1);
  s.updateGraph('c1', ['p-1', 'p-2', 'p-3'].map((k) => task(k)), ['p-1', 'p-2', 'p-3'], sid());
  t.equal(s.queued.size, 1);
  const ts = s.tasks.get('p-1')!;
  const out = s.longRunning('tcp://w:1', { key: 'p-1', runId: ts.runId }, sid());
  t.same(computed(out, 'tcp://w:1'), ['p-3']);
  t.equal(s.workers.get('tcp://w:1')!.longRunning, 1);
  finish(s, 'p-1');
  t.equal(s.workers.get('tcp://w:1')!.longRunning, 0);
});

t.test('worker loss: processing tasks move, suspicious counts, KilledWorker after allowedFailures', async (t) => {
  const { s } = harness({ allowedFailures: 1 });
  addWorker(s, 'tcp://a:1');
  s.updateGraph('c1', [task('k-1')], ['k-1'], sid());
  addWorker(s, 'tcp://b:1');
  let out = s.removeWorker('tcp://a:1', { expected: false }, sid());
  t.same(computed(out, 'tcp://b:1'), ['k-1'], 'rescheduled on the surviving worker');
  t.equal(s.tasks.get('k-1')!.suspicious, 1);
  addWorker(s, 'tcp://c:1');
  out = s.removeWorker('tcp://b:1', { expected: false }, sid());
  const [erred] = toClient(out, 'c1', 'task-erred');
  t.match(erred, { key: 'k-1', exception: { name: 'KilledWorker', message: /k-1.*2 different workers.*tcp:\/\/b:1/ } });
  t.equal(stateOf(s, 'k-1'), 'erred');
  t.same(computed(out, 'tcp://c:1'), []);

  // An expected departure (graceful close) is not held against the task.
  s.updateGraph('c1', [task('g-1')], ['g-1'], sid());
  addWorker(s, 'tcp://d:1');
  const holder = s.tasks.get('g-1')!.processingOn!.address;
  s.removeWorker(holder, { expected: true }, sid());
  t.equal(s.tasks.get('g-1')!.suspicious, 0);
  t.equal(stateOf(s, 'g-1'), 'processing');
});

t.test('worker loss: sole-holder results are recomputed, scattered data is lost', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://a:1');
  s.updateGraph('c1', [task('x-1'), task('y-1', ['x-1'])], ['x-1', 'y-1'], sid());
  finish(s, 'x-1');
  s.addData('c1', [{ key: 'list-1', nbytes: 20, type: 'Array', workers: ['tcp://a:1'] }], sid());
  t.equal(stateOf(s, 'list-1'), 'memory');
  addWorker(s, 'tcp://b:1');
  t.equal(stateOf(s, 'y-1'), 'processing');
  const out = s.removeWorker('tcp://a:1', { expected: false }, sid());
  const lost = toClient(out, 'c1', 'lost-data').map((m) => m.key).sort();
  t.same(lost, ['list-1', 'x-1']);
  t.equal(stateOf(s, 'list-1'), 'forgotten', 'scattered data has no recipe');
  t.same(computed(out, 'tcp://b:1'), ['x-1'], 'x is recomputed; y waits for it again');
  t.equal(stateOf(s, 'y-1'), 'waiting');
  finish(s, 'x-1');
  t.equal(stateOf(s, 'y-1'), 'processing');
});

t.test('missing-data: the bad replica is dropped and the asking worker gets fresh locations', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://a:1');
  addWorker(s, 'tcp://b:1');
  s.addData('c1', [{ key: 'd-1', nbytes: 10, workers: ['tcp://a:1', 'tcp://b:1'] }], sid());
  s.updateGraph('c1', [task('use-1', ['d-1'], { restrictions: { workers: ['tcp://b:1'] } })], ['use-1'], sid());
  t.equal(s.tasks.get('use-1')!.processingOn!.address, 'tcp://b:1');
  const first = s.tasks.get('use-1')!.runId;
  const out = s.missingData('tcp://b:1', { key: 'd-1', worker: 'tcp://a:1' }, sid());
  t.same(s.tasks.get('d-1')!.holders().map((w) => w.address), ['tcp://b:1']);
  t.same(computed(out, 'tcp://b:1'), ['use-1']);
  t.not(s.tasks.get('use-1')!.runId, first);

  const gone = s.missingData('tcp://b:1', { key: 'd-1', worker: 'tcp://b:1' }, sid());
  t.equal(stateOf(s, 'd-1'), 'memory', 'a worker cannot report itself as the errant holder');
  t.equal(gone.toClients.size, 0);
  s.releaseWorkerData('tcp://b:1', { key: 'd-1' }, sid());
  t.equal(stateOf(s, 'd-1'), 'forgotten', 'the last replica of scattered data is gone');
});

t.test('work stealing moves queued work from a saturated worker to an idle one', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://a:1', 1);
  s.addData('c1', [{ key: 'seed-1', nbytes: 10, workers: ['tcp://a:1'] }], sid());
  const keys = Array.from({ length: 6 }, (_, i) => `work-${i}`);
  s.updateGraph('c1', keys.map((k) => task(k, ['seed-1'])), keys, sid());
  t.equal(s.workers.get('tcp://a:1')!.processing.size, 6);
  addWorker(s, 'tcp://b:1', 2);
  t.ok(s.stealingUseful);
  const out = s.balance(sid('steal'));
  const requested = toWorker(out, 'tcp://a:1', 'steal-request').map((m) => m.key as string);
  t.equal(requested.length, 2, 'as many as the thief has free threads');
  t.notOk(requested.includes('work-0'), 'the oldest (likely running) task is left alone');
  t.same(computed(out, 'tcp://b:1'), [], 'nothing moves before the victim answers');
  const again = s.balance(sid('steal'));
  t.same(toWorker(again, 'tcp://a:1', 'steal-request'), [], 'a task is not asked for twice');

  const moved = s.stealResponse('tcp://a:1', { key: requested[0]!, state: 'ready' }, sid());
  t.same(computed(moved, 'tcp://b:1'), [requested[0]]);
  t.equal(s.tasks.get(requested[0]!)!.processingOn!.address, 'tcp://b:1');
  t.same(toWorker(moved, 'tcp://b:1', 'compute-task')[0]!.whoHas, { 'seed-1': ['tcp://a:1'] });
  const kept = s.stealResponse('tcp://a:1', { key: requested[1]!, state: 'executing' }, sid());
  t.equal(kept.toWorkers.size, 0);
  t.equal(s.tasks.get(requested[1]!)!.processingOn!.address, 'tcp://a:1', 'already running: it stays');
  t.same(
    s.transitionLog.story(requested[0]!).map((e) => `${e.start}>${e.finish}`).slice(-1),
    ['processing>processing'],
  );
});

t.test('fire-and-forget keys are forgotten once done', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('ff-1')], ['ff-1'], sid());
  s.clientDesiresKeys('fire-and-forget', ['ff-1'], sid());
  s.clientReleasesKeys('c1', ['ff-1'], sid());
  t.equal(stateOf(s, 'ff-1'), 'processing', 'still runs without the client');
  const out = finish(s, 'ff-1');
  t.same(freed(out, 'tcp://w:1'), ['ff-1']);
  t.equal(stateOf(s, 'ff-1'), 'forgotten');
  t.equal(out.toClients.size, 0, 'pseudo-clients get no messages');
});

t.test('clientDesiresKeys reports where a key stands', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1')], ['x-1'], sid());
  finish(s, 'x-1');
  const out = s.clientDesiresKeys('c2', ['x-1', 'unknown-1'], sid());
  t.same(toClient(out, 'c2'), [
    { op: 'key-in-memory', key: 'x-1', type: 'number', nbytes: 8 },
    { op: 'cancelled-keys', keys: ['unknown-1'], reason: 'unknown to the scheduler' },
  ]);
  t.same(s.tasks.get('x-1')!.wanters().map((c) => c.id).sort(), ['c1', 'c2']);
});

t.test('illegal transitions raise; the transition log is bounded', async (t) => {
  const { s } = harness({ transitionLogSize: 5, validate: false });
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1'), task('y-1', ['x-1'])], ['y-1'], sid());
  finish(s, 'x-1');
  finish(s, 'y-1');
  t.equal(stateOf(s, 'x-1'), 'released');
  t.throws(() => s.transitions([['x-1', 'processing']], sid()), InvalidTransitionError);
  s.updateGraph('c1', [task('p-1')], ['p-1'], sid());
  t.equal(stateOf(s, 'p-1'), 'processing');
  t.throws(() => s.transitions([['p-1', 'memory']], sid()), /needs a worker's report/);
  t.equal(s.transitionLog.size, 5);
  t.equal(s.transitionLog.entries().length, 5);
  t.ok(s.transitionLog.total > 5);
  t.same(s.transitionLog.entries().at(-1), { key: 'p-1', start: 'waiting', finish: 'processing', stimulusId: s.transitionLog.entries().at(-1)!.stimulusId, time: 1000 });
});

t.test('a transition loop is cut off by the counter guard', async (t) => {
  const s = new SchedulerState({ transitionCounterMax: 1 });
  s.addWorker({ address: 'tcp://w:1', nthreads: 1 }, sid());
  t.throws(
    () => s.updateGraph('c1', [task('a-1'), task('b-1', ['a-1']), task('c-1', ['b-1'])], ['c-1'], sid()),
    /more than 1 transitions/,
  );
});

t.test('bad worker registrations are refused with clear errors', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1', 1, { name: 'w' });
  t.throws(() => addWorker(s, 'tcp://w:1'), /already registered/);
  t.throws(() => addWorker(s, 'tcp://w:2', 1, { name: 'w' }), /named w is already registered/);
  t.throws(() => s.addWorker({ address: 'tcp://w:3', nthreads: 0 }, sid()), /nthreads/);
  t.equal(s.workers.size, 1);
});

t.test('scatter placement: round-robin by threads, broadcast everywhere', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://a:1', 1);
  addWorker(s, 'tcp://b:1', 2);
  const plan = s.planScatter(['k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
  t.same(plan.get('tcp://a:1')!.length, 2);
  t.same(plan.get('tcp://b:1')!.length, 4);
  const everywhere = s.planScatter(['k1'], { broadcast: true });
  t.same([...everywhere.keys()].sort(), ['tcp://a:1', 'tcp://b:1']);
  t.throws(() => s.planScatter(['k'], { workers: ['nobody'] }), /no running worker matches nobody/);
  s.addData('c1', [{ key: 'k1', nbytes: 3, workers: ['tcp://a:1', 'tcp://b:1'] }], sid());
  t.same(s.whoHas(['k1']), { k1: ['tcp://a:1', 'tcp://b:1'] });
  t.same(s.hasWhat(), { 'tcp://a:1': ['k1'], 'tcp://b:1': ['k1'] });
  t.same(s.ncores(), { 'tcp://a:1': 1, 'tcp://b:1': 2 });
});

t.test('watched keys are reported when they settle', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://w:1');
  s.updateGraph('c1', [task('x-1'), task('e-1')], ['x-1', 'e-1'], sid());
  t.equal(s.watch('x-1'), true);
  t.equal(s.watch('e-1'), true);
  t.equal(s.watch('unknown-1'), false);
  t.same(finish(s, 'x-1').settled, [{ key: 'x-1', state: 'memory' }]);
  t.same(fail(s, 'e-1', 'bad').settled, [{ key: 'e-1', state: 'erred', exception: { name: 'Error', message: 'bad' } }]);
  t.same(s.clientReleasesKeys('c1', ['x-1'], sid()).settled, [], 'a watch reports once');
  s.watch('e-1');
  t.same(s.clientReleasesKeys('c1', ['e-1'], sid()).settled, [{ key: 'e-1', state: 'forgotten' }]);
});

t.test('a paused worker gets no new tasks until it runs again', async (t) => {
  const { s } = harness();
  addWorker(s, 'tcp://a:1');
  addWorker(s, 'tcp://b:1');
  s.workerStatusChange('tcp://a:1', 'paused', sid());
  s.workerStatusChange('tcp://a:1', 'bogus' as 'paused', sid());
  t.equal(s.workers.get('tcp://a:1')!.status, 'paused', 'an unknown status is ignored');
  const keys = ['p-1', 'p-2', 'p-3', 'p-4'];
  const out = s.updateGraph('c1', keys.map((k) => task(k)), keys, sid());
  t.same(computed(out, 'tcp://a:1'), []);
  t.same(computed(out, 'tcp://b:1'), ['p-1', 'p-2']);
  const resumed = s.workerStatusChange('tcp://a:1', 'running', sid());
  t.same(computed(resumed, 'tcp://a:1'), ['p-3', 'p-4'], 'queued tasks flow to it when it resumes');
});
