/** SchedulerState.adoptHeld: values a worker brings back to a (new) scheduler. */
import t from 'tap';
import { HELD_OVER } from '../dist/lib/scheduler/records.js';
import { addWorker, computed, freed, harness, sid, stateOf, task, toClient } from './fixtures/scheduler-harness.js';

t.test('unknown keys become memory held over until a client claims them; the rest is freed after', async (t) => {
  const { s } = harness({ validate: true });
  addWorker(s, 'tcp://w:1');
  s.adoptHeld('tcp://w:1', [{ key: 'a-1', nbytes: 10, type: 'number' }, { key: 'b-1', nbytes: 20, type: 'string' }], HELD_OVER, sid());
  t.same(['a-1', 'b-1'].map((k) => stateOf(s, k)), ['memory', 'memory']);
  t.same(s.whoHas(['a-1', 'b-1']), { 'a-1': ['tcp://w:1'], 'b-1': ['tcp://w:1'] });
  t.equal(s.tasks.get('b-1')!.nbytes, 20);

  // A client comes back and resubmits a graph reading a-1: a-1 is not recomputed.
  let out = s.updateGraph('c1', [task('a-1'), task('c-1', ['a-1'])], ['a-1', 'c-1'], sid());
  t.same(computed(out, 'tcp://w:1'), ['c-1'], 'only the missing key runs');
  t.same(toClient(out, 'c1', 'key-in-memory').map((m) => m.key), ['a-1'], 'the client hears a-1 is in memory');

  out = s.clientReleasesKeys(HELD_OVER, ['a-1', 'b-1'], sid());
  t.same(freed(out, 'tcp://w:1'), ['b-1'], 'the unclaimed value is freed when the grace period ends');
  t.equal(stateOf(s, 'a-1'), 'memory', 'the claimed one stays');
});

t.test('a held value finishes a task that is waiting or running elsewhere; a malformed report changes nothing', async (t) => {
  const { s } = harness({ validate: true });
  addWorker(s, 'tcp://w:1', 1);
  s.updateGraph('c1', [task('x-1'), task('y-1', ['x-1'])], ['y-1'], sid());
  t.equal(stateOf(s, 'x-1'), 'processing');
  addWorker(s, 'tcp://w:2', 1);
  const out = s.adoptHeld('tcp://w:2', [{ key: 'x-1', nbytes: 8, type: 'number' }], HELD_OVER, sid());
  t.equal(stateOf(s, 'x-1'), 'memory', 'taken from the worker that holds it');
  t.same(freed(out, 'tcp://w:1'), ['x-1'], 'the worker still computing it lets go');
  t.equal(stateOf(s, 'y-1'), 'processing', 'the dependent runs');
  t.notOk(s.tasks.get('x-1')!.whoWants, 'a known key is not held over');

  const bad = [{ key: 'z-1', nbytes: -1 }];
  t.throws(() => s.adoptHeld('tcp://w:2', bad, HELD_OVER, sid()), /nbytes/);
  t.notOk(s.tasks.has('z-1'), 'a malformed report changes nothing');
});

t.test('held keys that complete each other in one report stay memory: no stale recommendation reruns them', async (t) => {
  // A client resubmitted the tree before any worker came back; then one brings l-0, l-1, m-0, m-1.
  // l-0 and l-1 make m-0 ready ('processing' recommended) before m-0 itself is adopted in the same report.
  const { s } = harness({ validate: true });
  s.updateGraph('c1', [task('l-0'), task('l-1'), task('l-2'), task('l-3'), task('m-0', ['l-0', 'l-1']), task('m-1', ['l-2', 'l-3']), task('r', ['m-0', 'm-1'])], ['r'], sid());
  addWorker(s, 'tcp://w:1', 1);
  const out = s.adoptHeld('tcp://w:1', ['l-0', 'l-1', 'm-0', 'm-1'].map((key) => ({ key, nbytes: 1 })), HELD_OVER, sid());
  t.same(['m-0', 'm-1'].map((k) => stateOf(s, k)), ['memory', 'memory'], 'the brought values stay in memory');
  t.equal(stateOf(s, 'r'), 'processing', 'the dependent runs');
  t.same(computed(out, 'tcp://w:1'), ['r'], 'only r is computed, with both inputs present');
  t.same(s.tasks.get('r')!.waitingOn, undefined, 'r waits on nothing');
});
