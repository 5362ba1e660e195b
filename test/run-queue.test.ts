/** The ClusterPool's queue: FIFO order, O(1) removal from the middle, compaction keeps order. */
import t from 'tap';
import { RunQueue } from '../dist/lib/client/run-queue.js';

interface Item {
  id: number;
  queued: boolean;
}

const item = (id: number): Item => ({ id, queued: false });

t.test('first in, first out, with removals from the middle skipped', async (t) => {
  const queue = new RunQueue<Item>();
  const items = [1, 2, 3, 4].map(item);
  for (const x of items) queue.push(x);
  t.equal(queue.size, 4);
  t.ok(queue.remove(items[1]!));
  t.notOk(queue.remove(items[1]!), 'a second removal is a no-op');
  t.equal(queue.size, 3);
  t.equal(queue.shift()?.id, 1);
  t.equal(queue.shift()?.id, 3);
  t.notOk(items[0]!.queued, 'a shifted entry is no longer queued');
  t.same(queue.drain().map((x) => x.id), [4]);
  t.equal(queue.shift(), undefined);
  t.equal(queue.size, 0);
});

t.test('many pushes and shifts keep order across compactions', async (t) => {
  const queue = new RunQueue<Item>();
  const seen: number[] = [];
  let next = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100; i++) queue.push(item(next++));
    for (let i = 0; i < 60; i++) seen.push(queue.shift()!.id);
  }
  while (queue.size > 0) seen.push(queue.shift()!.id);
  t.same(seen, Array.from({ length: next }, (_, i) => i));
});
