/**
 * A sender puts as much in one wire message as encodes in a couple of
 * milliseconds (lib/comm/batch-sizer.ts): heavy messages (a client's
 * update-graphs of 1,024 tasks) go a few at a time, small ones up to
 * MAX_BATCH_MESSAGES. The sizer is pure (the clock is the caller's), so its
 * decisions are checked with given durations; a real TCP pair then carries a
 * backlog of heavy messages complete and in order.
 */
import t from 'tap';
import { BatchSizer, BATCH_TARGET_MS, INITIAL_BATCH_WEIGHT, MAX_BATCH_WEIGHT, messageWeight } from '../dist/lib/comm/batch-sizer.js';
import { MAX_BATCH_MESSAGES } from '../dist/lib/comm/turn-budget.js';
import { connect, listen } from '../dist/lib/comm/registry.js';
import type { Comm } from '../dist/lib/comm/comm.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

const small = (n: number): OpDict => ({ op: 'key-in-memory', key: `k-${n}`, type: 'number', nbytes: 8 });
const heavy = (n: number, tasks = 1024): OpDict => ({
  op: 'update-graph',
  client: 'c',
  n,
  tasks: Array.from({ length: tasks }, (_, i) => ({ key: `t-${n}-${i}`, runSpec: new Uint8Array(4), dependencies: [] })),
  keys: Array.from({ length: tasks }, (_, i) => `t-${n}-${i}`),
});

t.test('a message weighs 1 plus the lengths of its array fields', async (t) => {
  t.equal(messageWeight(small(1)), 1);
  t.equal(messageWeight(heavy(1, 10)), 21, 'ten tasks and ten keys');
  t.equal(messageWeight({ op: 'x', nested: { list: [1, 2, 3] } }), 1, 'only top-level arrays count');
});

t.test('small messages go a full batch at a time; heavy ones stop at the weight budget, one at least', async (t) => {
  const sizer = new BatchSizer();
  const smalls = Array.from({ length: 3 * MAX_BATCH_MESSAGES }, (_, n) => small(n));
  t.equal(sizer.take(smalls, 0), Math.min(MAX_BATCH_MESSAGES, INITIAL_BATCH_WEIGHT), 'a full batch of small messages');
  t.equal(sizer.take(smalls, smalls.length - 5), 5, 'the tail of the queue');
  const heavies = [heavy(0), heavy(1), heavy(2)];
  t.equal(sizer.take(heavies, 0), 1, 'one heavy message over the budget still goes, alone');
  const mixed = [small(0), small(1), heavy(2), small(3)];
  t.equal(sizer.take(mixed, 0), 2, 'the batch stops before the message that would pass the budget');
  t.equal(sizer.take(mixed, 2), 1, 'and that one goes next, alone');
  t.equal(sizer.take([], 0), 0, 'nothing queued, nothing taken');
});

t.test('the budget shrinks after an encode over the target and grows after fast, cut-short ones', async (t) => {
  const sizer = new BatchSizer(MAX_BATCH_MESSAGES, 2, 1000);
  const smalls = Array.from({ length: 5000 }, (_, n) => small(n));
  t.equal(sizer.take(smalls, 0), 1000);
  sizer.record(8); // 4x the target
  t.equal(sizer.budget, 250, 'a quarter: what fits the target at that cost');
  t.equal(sizer.take(smalls, 0), 250);
  sizer.record(1.5); // under the target, but not by 4x: kept
  t.equal(sizer.budget, 250);
  sizer.take(smalls, 0);
  sizer.record(0.25); // well under, and the budget cut the batch: doubles
  t.equal(sizer.budget, 500);
  sizer.take(smalls, smalls.length - 3); // not cut by the budget: no evidence for more
  sizer.record(0.01);
  t.equal(sizer.budget, 500, 'a batch the queue ended does not grow the budget');
  sizer.take([heavy(0, 100_000)], 0);
  sizer.record(1000);
  t.equal(sizer.budget, Math.max(1, Math.floor((200_001 * 2) / 1000)), 'a very slow encode: the budget drops to its share');
  sizer.take([small(0)], 0);
  sizer.record(50);
  t.equal(sizer.budget, 1, 'never below one');
  const grow = new BatchSizer(MAX_BATCH_MESSAGES, BATCH_TARGET_MS, MAX_BATCH_WEIGHT);
  grow.take([heavy(0, 40_000), heavy(1, 40_000)], 0);
  grow.record(0);
  t.equal(grow.budget, MAX_BATCH_WEIGHT, 'the budget never grows past its cap');
});

t.test('TCP: a backlog of heavy messages arrives complete and in order', async (t) => {
  let accepted!: (comm: Comm) => void;
  const server = new Promise<Comm>((resolve) => (accepted = resolve));
  const listener = await listen('tcp://127.0.0.1:0', (comm) => accepted(comm));
  const sender = await connect(listener.address);
  const receiver = await server;
  t.teardown(async () => {
    await sender.close();
    await receiver.close();
    await listener.close();
  });
  const N = 60;
  const seen: number[] = [];
  let tasks = 0;
  const all = new Promise<void>((resolve) => {
    receiver.onMessage((msg: OpDict) => {
      seen.push(msg.n as number);
      tasks += (msg.tasks as unknown[]).length;
      if (seen.length === N) resolve();
    });
  });
  for (let n = 0; n < N; n++) sender.write(heavy(n));
  await all;
  t.same(seen, Array.from({ length: N }, (_, n) => n), 'in order');
  t.equal(tasks, N * 1024, 'every task of every message');
});
