/** The LMDB state store and the coordination extension's write-through and restore, on this thread. */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../dist/lib/scheduler/state-store.js';
import { createCoordinationExtension, type CoordinationHost } from '../dist/lib/coordination/extension.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

function host(held: string[][] = []): CoordinationHost {
  return {
    now: Date.now,
    desireKey: (client, key) => held.push([client, key]),
    releaseKey: () => undefined,
    setTimer: (ms, fn) => {
      const timer = setTimeout(fn, ms);
      timer.unref();
      return () => clearTimeout(timer);
    },
  };
}

const call = (ext: ReturnType<typeof createCoordinationExtension>, msg: OpDict): unknown => ext.handlers[msg.op]!(msg, undefined);

t.test('records written, read back by kind, deleted; a reopened store has them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let store = await StateStore.open(dir);
  await store.write('variable/a', { type: 'value', value: new Uint8Array([1, 2, 3]) });
  await store.write('variable/b', { type: 'future', key: 'x-1' });
  await store.write('queue/q', { maxsize: 0, items: [] });
  await store.write('variable/b', undefined);
  await store.close();
  store = await StateStore.open(dir);
  t.teardown(() => store.close());
  const variables = store.records('variable');
  t.same(variables.map(([key]) => key), ['variable/a'], 'deleted records stay deleted');
  const item = variables[0]![1] as { value: Uint8Array };
  t.ok(item.value instanceof Uint8Array, 'bytes come back as bytes');
  t.same([...item.value], [1, 2, 3]);
  t.same(store.records('queue').map(([key]) => key), ['queue/q']);
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory');
  await t.rejects(StateStore.open(join(file, 'state')), { name: 'StateStoreError', message: /cannot open the state dir/ });
});

t.test('the extension writes what each op changed and a new one restores it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await StateStore.open(dir);
  const first = createCoordinationExtension(host(), { store });
  const bytes = (n: number) => ({ type: 'value', value: new Uint8Array([n]) });
  await call(first, { op: 'variable_set', name: 'v', item: bytes(7) });
  for (const n of [1, 2, 3]) await call(first, { op: 'queue_put', name: 'q', holder: 'c1', item: bytes(n) });
  await call(first, { op: 'queue_put', name: 'q', holder: 'c1', item: { type: 'future', key: 'f-1' } });
  await call(first, { op: 'queue_get', name: 'q', holder: 'c1' });
  t.same(await call(first, { op: 'semaphore_acquire', name: 'lock', maxLeases: 1, leaseId: 'L1', holder: 'c1' }), { acquired: true, leaseTimeout: 30_000 });
  await call(first, { op: 'event_set', name: 'go' });
  await call(first, { op: 'event_set', name: 'unset-later' });
  await call(first, { op: 'event_clear', name: 'unset-later' });
  first.close();

  const held: string[][] = [];
  const second = createCoordinationExtension(host(held));
  const counts = second.restore([...store.records('semaphore'), ...store.records('event'), ...store.records('queue'), ...store.records('variable')]);
  t.same(counts, { locksAndSemaphores: 1, leases: 1, events: 1, queues: 1, queueItems: 3, variables: 1 });
  t.same(held, [['queue-q', 'f-1']], 'a restored future item is held again by its queue');
  t.equal(await call(second, { op: 'queue_qsize', name: 'q' }), 3, 'the item taken before the restart stays taken');
  t.same(await call(second, { op: 'semaphore_value', name: 'lock' }), 1, 'the lease is back');
  t.equal(await call(second, { op: 'event_is_set', name: 'go' }), true);
  t.equal(await call(second, { op: 'event_is_set', name: 'unset-later' }), false);
  const reply = (await call(second, { op: 'variable_get', name: 'v', holder: 'c2' })) as { item: { value: Uint8Array } };
  t.same([...reply.item.value], [7]);
  t.same(second.restore([['queue/bad', { maxsize: 'x', items: 3 }]]).queues, 0, 'a malformed record is skipped, not fatal');
  second.close();
  await store.close();
});
