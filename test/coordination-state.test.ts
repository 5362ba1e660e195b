import t from 'tap';
import { SemaphoreState } from '../dist/lib/coordination/semaphore-state.js';
import { EventState } from '../dist/lib/coordination/event-state.js';
import { QueueState } from '../dist/lib/coordination/queue-state.js';
import { VariableState } from '../dist/lib/coordination/variable-state.js';
import { CoordinationError } from '../dist/lib/coordination/errors.js';
import type { CoordinationItem } from '../dist/lib/protocol/messages.js';

function fakeClock(start = 1_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => { time += ms; } };
}

const value = (byte: number): CoordinationItem => ({ type: 'value', value: new Uint8Array([byte]) });
const future = (key: string): CoordinationItem => ({ type: 'future', key });

t.test('semaphore: a lock (maxLeases 1) is mutually exclusive and serves waiters first come first served', async (t) => {
  const clock = fakeClock();
  const state = new SemaphoreState({ now: clock.now });
  t.same(state.acquire({ name: 'L', maxLeases: 1, leaseId: 'a', holder: 'c1' }), { kind: 'done', result: true });
  const b = state.acquire({ name: 'L', maxLeases: 1, leaseId: 'b', holder: 'c2' });
  const c = state.acquire({ name: 'L', maxLeases: 1, leaseId: 'c', holder: 'c3' });
  t.equal(b.kind, 'parked');
  t.equal(c.kind, 'parked');
  t.equal(state.value('L'), 1);
  if (b.kind !== 'parked' || c.kind !== 'parked') return;
  t.equal(b.deadline, Infinity, 'no timeout: no deadline');

  const first = state.release('L', 'a');
  t.equal(first.released, true);
  t.same(first.wakes, [{ waiterId: b.waiterId, holder: 'c2', result: true }], 'only the oldest waiter gets in');
  t.equal(state.value('L'), 1);
  const second = state.release('L', 'b');
  t.same(second.wakes.map((w) => w.waiterId), [c.waiterId]);
  t.same(state.release('L', 'c').wakes, []);
  t.equal(state.value('L'), 0);
  t.equal(state.leaseCount, 0);
});

t.test('semaphore: maxLeases 2 grants two, the same leaseId twice is one lease', async (t) => {
  const state = new SemaphoreState({ now: fakeClock().now });
  t.same(state.acquire({ name: 'S', maxLeases: 2, leaseId: 'x', holder: 'h' }).kind, 'done');
  t.same(state.acquire({ name: 'S', maxLeases: 2, leaseId: 'x', holder: 'h' }), { kind: 'done', result: true });
  t.equal(state.value('S'), 1, 'retrying an acquire does not take a second lease');
  t.same(state.acquire({ name: 'S', maxLeases: 2, leaseId: 'y', holder: 'h' }), { kind: 'done', result: true });
  t.equal(state.acquire({ name: 'S', maxLeases: 2, leaseId: 'z', holder: 'h' }).kind, 'parked');
  t.equal(state.value('S'), 2);
});

t.test('semaphore: timeouts (0 tries once; a deadline makes the waiter answer false)', async (t) => {
  const clock = fakeClock();
  const state = new SemaphoreState({ now: clock.now });
  state.acquire({ name: 'L', maxLeases: 1, leaseId: 'a', holder: 'c1' });
  t.same(state.acquire({ name: 'L', maxLeases: 1, leaseId: 'b', holder: 'c2', timeoutMs: 0 }), { kind: 'done', result: false });
  const parked = state.acquire({ name: 'L', maxLeases: 1, leaseId: 'c', holder: 'c2', timeoutMs: 250 });
  t.same(parked, { kind: 'parked', waiterId: (parked as { waiterId: number }).waiterId, deadline: 1_250 });
  if (parked.kind !== 'parked') return;
  clock.advance(250);
  t.same(state.timeOut(parked.waiterId), { waiterId: parked.waiterId, holder: 'c2', result: false });
  t.equal(state.timeOut(parked.waiterId), undefined, 'a second timeout is a no-op');
  t.same(state.release('L', 'a').wakes, [], 'the timed-out waiter is not granted later');
  t.equal(state.value('L'), 0);
  t.throws(() => state.acquire({ name: 'L', maxLeases: 1, leaseId: 'd', holder: 'c', timeoutMs: -1 }), TypeError);
});

t.test('semaphore: over-release and inconsistent maxLeases are errors', async (t) => {
  const state = new SemaphoreState({ now: fakeClock().now });
  t.throws(() => state.release('never', 'x'), { name: 'CoordinationError', message: /Released too often/ });
  state.acquire({ name: 'S', maxLeases: 2, leaseId: 'a', holder: 'h' });
  t.equal(state.release('S', 'a').released, true);
  t.throws(() => state.release('S', 'a'), CoordinationError, 'releasing the same lease twice');
  state.register('R', 3);
  state.register('R', 3);
  t.throws(() => state.register('R', 2), { name: 'CoordinationError', message: /Inconsistent maxLeases.*3.*2/ });
  state.acquire({ name: 'R', maxLeases: 3, leaseId: 'r', holder: 'h' });
  t.throws(() => state.acquire({ name: 'R', maxLeases: 1, leaseId: 's', holder: 'h' }), /Inconsistent maxLeases/);
  t.throws(() => state.register('Z', 0), TypeError);
  t.throws(() => state.register('Z', 1.5), TypeError);
});

t.test('semaphore: leases of a holder that is gone end and waiters get in; its own waiters answer false', async (t) => {
  const state = new SemaphoreState({ now: fakeClock().now });
  state.acquire({ name: 'L', maxLeases: 1, leaseId: 'a', holder: 'dead' });
  state.acquire({ name: 'M', maxLeases: 1, leaseId: 'm', holder: 'other' });
  const deadWaiter = state.acquire({ name: 'M', maxLeases: 1, leaseId: 'm2', holder: 'dead' });
  const live = state.acquire({ name: 'L', maxLeases: 1, leaseId: 'b', holder: 'alive' });
  if (live.kind !== 'parked' || deadWaiter.kind !== 'parked') throw new Error('expected parked');
  const wakes = state.holderGone('dead');
  t.same(
    wakes.sort((x, y) => x.waiterId - y.waiterId),
    [
      { waiterId: deadWaiter.waiterId, holder: 'dead', result: false },
      { waiterId: live.waiterId, holder: 'alive', result: true },
    ].sort((x, y) => x.waiterId - y.waiterId),
  );
  t.equal(state.value('L'), 1);
  t.equal(state.value('M'), 1, 'the other holder keeps its lease');
  t.equal(state.release('M', 'm').released, true);
  t.equal(state.value('M'), 0, 'the dead holder was not granted M after it left');
});

t.test('semaphore: leases not refreshed within leaseTimeout expire; refreshed ones stay', async (t) => {
  const clock = fakeClock();
  const state = new SemaphoreState({ now: clock.now, leaseTimeoutMs: 1_000 });
  state.acquire({ name: 'S', maxLeases: 2, leaseId: 'stale', holder: 'h1' });
  state.acquire({ name: 'S', maxLeases: 2, leaseId: 'fresh', holder: 'h2' });
  const waiter = state.acquire({ name: 'S', maxLeases: 2, leaseId: 'next', holder: 'h3' });
  if (waiter.kind !== 'parked') throw new Error('expected parked');
  clock.advance(600);
  state.refresh('S', ['fresh'], 'h2');
  t.same(state.expireStaleLeases().expired, [], 'nothing is older than the timeout yet');
  clock.advance(600);
  const { expired, wakes } = state.expireStaleLeases();
  t.same(expired, [{ name: 'S', leaseId: 'stale', holder: 'h1' }]);
  t.same(wakes, [{ waiterId: waiter.waiterId, holder: 'h3', result: true }]);
  t.equal(state.value('S'), 2);
  t.same(state.release('S', 'stale'), { released: false, wakes: [] }, 'a late release of an expired lease is not an error');
  t.throws(() => state.release('S', 'stale'), /Released too often/, 'but only once');
});

t.test('semaphore: refreshing an expired lease takes it back (oversubscribed until back under maxLeases)', async (t) => {
  const clock = fakeClock();
  const state = new SemaphoreState({ now: clock.now, leaseTimeoutMs: 100 });
  state.acquire({ name: 'L', maxLeases: 1, leaseId: 'slow', holder: 'h1' });
  clock.advance(101);
  state.expireStaleLeases();
  t.same(state.acquire({ name: 'L', maxLeases: 1, leaseId: 'quick', holder: 'h2' }), { kind: 'done', result: true });
  t.same(state.refresh('L', ['slow', 'unknown'], 'h1'), { resurrected: ['slow'] });
  t.equal(state.value('L'), 2, 'oversubscribed');
  const blocked = state.acquire({ name: 'L', maxLeases: 1, leaseId: 'third', holder: 'h3' });
  t.equal(blocked.kind, 'parked');
  t.same(state.release('L', 'quick').wakes, [], 'still at maxLeases: nobody gets in');
  t.equal(state.release('L', 'slow').wakes.length, 1, 'back under: the waiter gets in');
});

t.test('semaphore: leases never expire with an infinite lease timeout', async (t) => {
  const clock = fakeClock();
  const state = new SemaphoreState({ now: clock.now, leaseTimeoutMs: Infinity });
  state.acquire({ name: 'L', maxLeases: 1, leaseId: 'a', holder: 'h' });
  clock.advance(1e9);
  t.same(state.expireStaleLeases().expired, []);
  t.equal(state.value('L'), 1);
  t.throws(() => new SemaphoreState({ leaseTimeoutMs: 0 }), TypeError);
});

t.test('semaphore: clearAll answers every waiter false', async (t) => {
  const state = new SemaphoreState({ now: fakeClock().now });
  state.acquire({ name: 'L', maxLeases: 1, leaseId: 'a', holder: 'h' });
  const w = state.acquire({ name: 'L', maxLeases: 1, leaseId: 'b', holder: 'h2' });
  if (w.kind !== 'parked') throw new Error('expected parked');
  t.same(state.clearAll(), [{ waiterId: w.waiterId, holder: 'h2', result: false }]);
  t.equal(state.value('L'), 0);
  t.equal(state.leaseCount, 0);
});

t.test('event: set wakes every waiter; wait on a set event returns at once; clear; timeouts', async (t) => {
  const clock = fakeClock();
  const state = new EventState({ now: clock.now });
  t.equal(state.isSet('E'), false);
  t.same(state.wait({ name: 'E', holder: 'h', timeoutMs: 0 }), { kind: 'done', result: false });
  const waiters = [1, 2, 3].map((n) => state.wait({ name: 'E', holder: `h${n}` }));
  const timed = state.wait({ name: 'E', holder: 'h4', timeoutMs: 50 });
  t.ok(waiters.every((w) => w.kind === 'parked'));
  if (timed.kind !== 'parked') throw new Error('expected parked');
  t.equal(timed.deadline, 1_050);
  clock.advance(50);
  t.same(state.timeOut(timed.waiterId), { waiterId: timed.waiterId, holder: 'h4', result: false });
  const wakes = state.set('E');
  t.same(wakes.map((w) => w.holder), ['h1', 'h2', 'h3'], 'all waiters, not just the first');
  t.ok(wakes.every((w) => w.result === true));
  t.equal(state.isSet('E'), true);
  t.same(state.wait({ name: 'E', holder: 'h' }), { kind: 'done', result: true });
  t.same(state.set('E'), [], 'setting again wakes nobody');
  state.clear('E');
  t.equal(state.isSet('E'), false);
  t.equal(state.size, 0, 'a clear event without waiters is forgotten');
  t.equal(state.wait({ name: 'E', holder: 'h' }).kind, 'parked', 'waits again after clear');
});

t.test('event: a gone holder\'s waiters are dropped, others still woken', async (t) => {
  const state = new EventState({ now: fakeClock().now });
  state.wait({ name: 'E', holder: 'gone' });
  state.wait({ name: 'E', holder: 'stays' });
  t.same(state.holderGone('gone').map((w) => [w.holder, w.result]), [['gone', false]]);
  t.same(state.set('E').map((w) => w.holder), ['stays']);
  state.wait({ name: 'F', holder: 'x' });
  t.same(state.clearAll().map((w) => w.result), [false]);
  t.equal(state.size, 0);
});

t.test('queue: FIFO values, qsize, get waits for a put, future keys are held while queued', async (t) => {
  const state = new QueueState({ now: fakeClock().now });
  let out = state.put({ name: 'Q', holder: 'p', item: value(1) });
  t.same(out.decision, { kind: 'done', result: { kind: 'put' } });
  out = state.put({ name: 'Q', holder: 'p', item: future('f-1') });
  t.same(out.keys, { hold: ['f-1'], release: [] }, 'the queue starts holding the key');
  out = state.put({ name: 'Q', holder: 'p', item: future('f-1') });
  t.same(out.keys, { hold: [], release: [] }, 'a second copy does not hold it twice');
  t.equal(state.qsize('Q'), 3);

  out = state.get({ name: 'Q', holder: 'g' });
  t.same(out.decision, { kind: 'done', result: { kind: 'items', items: [value(1)] } });
  out = state.get({ name: 'Q', holder: 'g' });
  t.same(out.decision, { kind: 'done', result: { kind: 'items', items: [future('f-1')] } });
  t.same(out.keys.release, [], 'one copy is still queued');
  out = state.get({ name: 'Q', holder: 'g' });
  t.same(out.keys.release, ['f-1'], 'the last copy left: released');
  t.equal(state.qsize('Q'), 0);

  const waiting = state.get({ name: 'Q', holder: 'g2' });
  t.equal(waiting.decision.kind, 'parked');
  if (waiting.decision.kind !== 'parked') return;
  out = state.put({ name: 'Q', holder: 'p', item: future('f-2') });
  t.same(out.decision, { kind: 'done', result: { kind: 'put' } });
  t.same(out.wakes, [{ waiterId: waiting.decision.waiterId, holder: 'g2', result: { kind: 'items', items: [future('f-2')] } }]);
  t.same(out.keys, { hold: ['f-2'], release: ['f-2'] }, 'handed straight through: held then released');
  t.equal(state.size, 0, 'an empty unbounded queue with no waiters is forgotten');
});

t.test('queue: maxsize makes put wait (FIFO) and time out', async (t) => {
  const clock = fakeClock();
  const state = new QueueState({ now: clock.now });
  state.create('B', 2);
  state.put({ name: 'B', holder: 'p', item: value(1) });
  state.put({ name: 'B', holder: 'p', item: value(2) });
  t.same(state.put({ name: 'B', holder: 'p', item: value(9), timeoutMs: 0 }).decision, { kind: 'done', result: { kind: 'timeout' } });
  t.equal(state.qsize('B'), 2, 'a timed-out put adds nothing');
  const third = state.put({ name: 'B', holder: 'p3', item: value(3) }).decision;
  const timed = state.put({ name: 'B', holder: 'p4', item: future('never'), timeoutMs: 100 }).decision;
  const fifth = state.put({ name: 'B', holder: 'p5', item: value(5) }).decision;
  if (third.kind !== 'parked' || timed.kind !== 'parked' || fifth.kind !== 'parked') throw new Error('expected parked');
  clock.advance(100);
  const change = state.timeOut(timed.waiterId);
  t.same(change?.wakes, [{ waiterId: timed.waiterId, holder: 'p4', result: { kind: 'timeout' } }]);
  t.same(change?.keys, { hold: [], release: [] }, 'a put that never got in never held its key');
  const got = state.get({ name: 'B', holder: 'g' });
  t.same(got.decision, { kind: 'done', result: { kind: 'items', items: [value(1)] } });
  t.same(got.wakes, [{ waiterId: third.waiterId, holder: 'p3', result: { kind: 'put' } }], 'room for exactly one putter');
  const batch = state.get({ name: 'B', holder: 'g', batch: true });
  t.same(batch.decision, { kind: 'done', result: { kind: 'items', items: [value(2), value(3)] } });
  t.same(batch.wakes, [{ waiterId: fifth.waiterId, holder: 'p5', result: { kind: 'put' } }]);
  t.equal(state.qsize('B'), 1);
  t.throws(() => state.create('B', 3), { name: 'CoordinationError', message: /Inconsistent maxsize/ });
  state.create('B');
  t.throws(() => state.get({ name: 'B', holder: 'g', batch: 3 }), /batch of 3 .* maxsize 2/);
  t.throws(() => state.get({ name: 'B', holder: 'g', batch: -1 }), TypeError);
  t.throws(() => state.create('C', -1), TypeError);
});

t.test('queue: get timeouts, batch n waits for exactly n, batch true never waits', async (t) => {
  const clock = fakeClock();
  const state = new QueueState({ now: clock.now });
  t.same(state.get({ name: 'Q', holder: 'g', timeoutMs: 0 }).decision, { kind: 'done', result: { kind: 'timeout' } });
  t.same(state.get({ name: 'Q', holder: 'g', batch: true }).decision, { kind: 'done', result: { kind: 'items', items: [] } });
  const three = state.get({ name: 'Q', holder: 'big', batch: 3, timeoutMs: 1_000 }).decision;
  const one = state.get({ name: 'Q', holder: 'small' }).decision;
  if (three.kind !== 'parked' || one.kind !== 'parked') throw new Error('expected parked');
  t.same(state.put({ name: 'Q', holder: 'p', item: value(1) }).wakes, [], 'the head of the line wants 3: nobody served yet');
  t.same(state.put({ name: 'Q', holder: 'p', item: value(2) }).wakes, []);
  clock.advance(1_000);
  const change = state.timeOut(three.waiterId);
  t.same(change?.wakes, [
    { waiterId: three.waiterId, holder: 'big', result: { kind: 'timeout' } },
    { waiterId: one.waiterId, holder: 'small', result: { kind: 'items', items: [value(1)] } },
  ], 'the big request timing out lets the small one behind it through');
  t.equal(state.qsize('Q'), 1, 'a timed-out batch consumed nothing');
  const two = state.get({ name: 'Q', holder: 'g', batch: 2 }).decision;
  t.equal(two.kind, 'parked');
  const put = state.put({ name: 'Q', holder: 'p', item: value(3) });
  t.same(put.wakes.map((w) => w.result), [{ kind: 'items', items: [value(2), value(3)] }]);
  t.same(state.get({ name: 'Q', holder: 'g', batch: 0 }).decision, { kind: 'done', result: { kind: 'items', items: [] } });
});

t.test('queue: a gone holder\'s parked requests are cancelled; clearAll releases held keys', async (t) => {
  const state = new QueueState({ now: fakeClock().now });
  state.create('B', 1);
  state.put({ name: 'B', holder: 'p', item: future('k') });
  state.put({ name: 'B', holder: 'gone', item: value(2) });
  state.put({ name: 'B', holder: 'alive', item: value(3) });
  const changes = state.holderGone('gone');
  t.same(changes.map((c) => [c.name, c.wakes.map((w) => [w.holder, w.result.kind])]), [['B', [['gone', 'cancelled']]]]);
  const got = state.get({ name: 'B', holder: 'g' });
  t.same(got.wakes.map((w) => w.holder), ['alive'], 'the gone putter\'s item never entered');
  t.same(got.keys.release, ['k']);
  state.put({ name: 'C', holder: 'p', item: future('k2') });
  const waiter = state.get({ name: 'D', holder: 'g' });
  const cleared = state.clearAll();
  t.same(cleared.keys.release, ['k2']);
  t.same(cleared.wakes.map((w) => w.result.kind), ['cancelled']);
  t.equal(waiter.decision.kind, 'parked');
  t.equal(state.size, 0);
});

t.test('queue: many items stay FIFO through compaction', async (t) => {
  const state = new QueueState({ now: fakeClock().now });
  for (let i = 0; i < 3000; i++) state.put({ name: 'Q', holder: 'p', item: { type: 'future', key: `k${i}` } });
  const seen: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const d = state.get({ name: 'Q', holder: 'g' }).decision;
    if (d.kind === 'done' && d.result.kind === 'items') seen.push((d.result.items[0] as { key: string }).key);
  }
  t.equal(state.qsize('Q'), 1000);
  const rest = state.get({ name: 'Q', holder: 'g', batch: true }).decision;
  if (rest.kind === 'done' && rest.result.kind === 'items') seen.push(...rest.result.items.map((i) => (i as { key: string }).key));
  t.same(seen, Array.from({ length: 3000 }, (_, i) => `k${i}`));
});

t.test('variable: get waits until the first set; set replaces and releases the old key; delete', async (t) => {
  const clock = fakeClock();
  const state = new VariableState({ now: clock.now });
  t.same(state.get({ name: 'V', holder: 'g', timeoutMs: 0 }), { kind: 'done', result: { kind: 'timeout' } });
  const waiting = state.get({ name: 'V', holder: 'g1' });
  const timed = state.get({ name: 'V', holder: 'g2', timeoutMs: 10 });
  if (waiting.kind !== 'parked' || timed.kind !== 'parked') throw new Error('expected parked');
  clock.advance(10);
  t.same(state.timeOut(timed.waiterId), { waiterId: timed.waiterId, holder: 'g2', result: { kind: 'timeout' } });

  let set = state.set('V', future('a'));
  t.same(set.keys, { hold: ['a'], release: [] });
  t.same(set.wakes, [{ waiterId: waiting.waiterId, holder: 'g1', result: { kind: 'item', item: future('a') } }]);
  t.same(state.get({ name: 'V', holder: 'g' }), { kind: 'done', result: { kind: 'item', item: future('a') } });
  set = state.set('V', future('a'));
  t.same(set.keys, { hold: [], release: [] }, 'setting the same future again changes nothing');
  set = state.set('V', future('b'));
  t.same(set.keys, { hold: ['b'], release: ['a'] });
  set = state.set('V', value(7));
  t.same(set.keys, { hold: [], release: ['b'] });
  t.same(state.peek('V'), value(7));
  state.set('V', future('c'));
  t.same(state.delete('V'), { hold: [], release: ['c'] });
  t.equal(state.size, 0);
  t.same(state.delete('V'), { hold: [], release: [] }, 'deleting twice is harmless');
  t.equal(state.get({ name: 'V', holder: 'g' }).kind, 'parked', 'after delete, get waits again');
  t.same(state.holderGone('g').map((w) => w.result.kind), ['cancelled']);
  state.set('W', future('w'));
  const waiter = state.get({ name: 'X', holder: 'g' });
  t.equal(waiter.kind, 'parked');
  const cleared = state.clearAll();
  t.same(cleared.keys.release, ['w']);
  t.same(cleared.wakes.map((w) => w.result.kind), ['cancelled']);
});
