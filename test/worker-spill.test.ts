import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpillBuffer, storedBytes } from '../dist/lib/worker/spill-buffer.js';
import {
  DEFAULT_MEMORY_FRACTIONS, evictionsFor, LruLedger, memoryDecision, memoryFractions, overTarget, thresholds,
} from '../dist/lib/worker/spill-policy.js';

const MB = 1_000_000;

t.test('fractions: dask defaults, overrides, false, and bad values', async (t) => {
  t.same(memoryFractions(), { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95 });
  t.same(memoryFractions({ target: 0.5, pause: false }), { ...DEFAULT_MEMORY_FRACTIONS, target: 0.5, pause: false });
  t.throws(() => memoryFractions({ spill: 1.5 }), TypeError);
  t.throws(() => memoryFractions({ target: 0 }), TypeError);
  t.throws(() => memoryFractions({ terminate: 'high' as never }), /terminate must be a fraction/);
  t.same(thresholds(1000, memoryFractions({ pause: false })), { target: 600, spill: 700, pause: undefined, terminate: 950 });
});

t.test('the LRU ledger: oldest first, touching makes a key young, sizes summed', async (t) => {
  const ledger = new LruLedger();
  ledger.touch('a', 10);
  ledger.touch('b', 20);
  ledger.touch('c', 30);
  ledger.touch('a', 15);
  t.same([...ledger.oldestFirst()], [['b', 20], ['c', 30], ['a', 15]]);
  t.equal(ledger.bytes, 65);
  t.ok(ledger.delete('c'));
  t.notOk(ledger.delete('c'));
  t.equal(ledger.bytes, 35);
  t.equal(ledger.size, 2);
});

t.test('evictions: oldest until enough bytes leave, skipping kept keys', async (t) => {
  const ledger = new LruLedger();
  for (const [key, bytes] of [['a', 10], ['b', 10], ['c', 10], ['d', 10]] as const) ledger.touch(key, bytes);
  t.same(evictionsFor(ledger, 15), ['a', 'b']);
  t.same(evictionsFor(ledger, 15, new Set(['a'])), ['b', 'c']);
  t.same(evictionsFor(ledger, 0), []);
  t.same(evictionsFor(ledger, 1000), ['a', 'b', 'c', 'd'], 'at most everything');
  t.equal(overTarget(700, thresholds(1000, memoryFractions())), 100);
  t.equal(overTarget(500, thresholds(1000, memoryFractions())), 0);
  t.equal(overTarget(5000, thresholds(1000, memoryFractions({ target: false }))), 0, 'no target, no spilling on store');
});

t.test('memory decision from RSS: spill down to the target, pause and terminate above theirs', async (t) => {
  const limits = thresholds(1000, memoryFractions());
  t.same(memoryDecision(650, 400, limits), { spillBytes: 0, paused: false, terminate: false }, 'under spill');
  t.same(memoryDecision(750, 400, limits), { spillBytes: 150, paused: false, terminate: false }, 'back to 600');
  t.same(memoryDecision(750, 100, limits), { spillBytes: 100, paused: false, terminate: false }, 'never more than is managed');
  t.same(memoryDecision(850, 400, limits), { spillBytes: 250, paused: true, terminate: false });
  t.same(memoryDecision(960, 0, limits), { spillBytes: 0, paused: true, terminate: true });
  const off = thresholds(1000, memoryFractions({ spill: false, pause: false, terminate: false }));
  t.same(memoryDecision(999, 500, off), { spillBytes: 0, paused: false, terminate: false });
});

function value(fill: number, bytes = 10 * MB): Uint8Array {
  return new Uint8Array(bytes).fill(fill);
}

function tempDirectory(t: { teardown(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'spill-test-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return join(root, 'storage');
}

t.test('SpillBuffer: past the target the least recently used go to disk and come back on read', async (t) => {
  const directory = tempDirectory(t);
  const buffer = new SpillBuffer(directory, thresholds(100 * MB, memoryFractions()));
  for (let i = 0; i < 6; i++) buffer.set(`k${i}`, value(i));
  t.equal(buffer.memoryBytes, 60 * MB, 'exactly at the 60 MB target: nothing spilled yet');
  t.notOk(existsSync(directory), 'no directory until something spills');
  buffer.get('k0'); // k0 becomes the youngest; k1 is now the oldest
  buffer.set('k6', value(6));
  t.ok(buffer.isSpilled('k1'), 'the least recently used went');
  t.notOk(buffer.isSpilled('k0'), 'the one just read stayed');
  t.equal(buffer.memoryBytes, 60 * MB);
  t.same(buffer.counters(), { memoryBytes: 60 * MB, spilledBytes: 10 * MB, spilledKeys: 1, spills: 1, unspills: 0 });
  t.equal(readdirSync(directory).length, 1);
  t.equal(storedBytes(buffer, 'k1'), 10 * MB, 'size known without reading back');
  t.equal(buffer.size, 7);
  t.same([...buffer.keys()].sort(), ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']);

  const back = buffer.get('k1')!;
  t.equal(back.byteLength, 10 * MB);
  t.ok(back.every((b) => b === 1), 'the same bytes came back');
  t.notOk(buffer.isSpilled('k1'));
  t.equal(buffer.counters().unspills, 1);
  t.equal(buffer.memoryBytes, 60 * MB, 'reading back spilled another one');
  t.equal(buffer.counters().spilledKeys, 1);

  t.ok(buffer.delete('k2') || buffer.delete('k3'));
  buffer.close();
  t.notOk(existsSync(directory), 'close removes the files');
});

t.test('SpillBuffer: a value as large as the target goes straight to disk; deleting a spilled one removes its file', async (t) => {
  const directory = tempDirectory(t);
  const buffer = new SpillBuffer(directory, thresholds(100 * MB, memoryFractions()));
  buffer.set('small', value(1, MB));
  buffer.set('huge', value(2, 70 * MB));
  t.ok(buffer.isSpilled('huge'));
  t.equal(buffer.memoryBytes, MB);
  t.equal(readdirSync(directory).length, 1);
  t.ok(buffer.delete('huge'));
  t.equal(readdirSync(directory).length, 0);
  t.equal(buffer.counters().spilledBytes, 0);
  t.notOk(buffer.has('huge'));
  t.equal(buffer.get('huge'), undefined);
  buffer.set('small', value(3, MB));
  t.equal(buffer.get('small')![0], 3, 'set replaces');
  t.equal(buffer.memoryBytes, MB);
});

t.test('SpillBuffer: when the disk refuses, values stay in memory', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'spill-test-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const blocked = join(root, 'not-a-directory');
  writeFileSync(blocked, 'x');
  const errors: unknown[] = [];
  const log = { error: (obj: unknown) => errors.push(obj) } as never;
  const buffer = new SpillBuffer(join(blocked, 'storage'), thresholds(10 * MB, memoryFractions()), log);
  for (let i = 0; i < 3; i++) buffer.set(`k${i}`, value(i, 4 * MB));
  t.equal(buffer.memoryBytes, 12 * MB, 'over the target, but nothing lost');
  t.equal(buffer.counters().spilledKeys, 0);
  t.equal(buffer.get('k0')![0], 0);
  t.equal(errors.length, 1, 'logged once (rate-limited)');
});

t.test('SpillBuffer: unmanaged memory counts toward the target, but the value just stored stays', async (t) => {
  const directory = tempDirectory(t);
  const buffer = new SpillBuffer(directory, thresholds(100 * MB, memoryFractions()));
  for (let i = 0; i < 4; i++) buffer.set(`k${i}`, value(i));
  t.equal(buffer.memoryBytes, 40 * MB, 'under the 60 MB target alone');
  buffer.setUnmanaged(35 * MB);
  buffer.set('k4', value(4));
  t.equal(buffer.memoryBytes, 20 * MB, '50 MB managed + 35 MB unmanaged is 25 over: three go to disk');
  t.ok(buffer.isSpilled('k0') && buffer.isSpilled('k1') && buffer.isSpilled('k2'), 'the oldest first');
  buffer.setUnmanaged(500 * MB);
  buffer.set('k5', value(5));
  t.equal(buffer.memoryBytes, 10 * MB, 'with no room at all, only the value just stored stays in RAM');
  t.notOk(buffer.isSpilled('k5'));
  buffer.setUnmanaged(-5);
  buffer.set('k6', value(6));
  t.equal(buffer.memoryBytes, 20 * MB, 'a negative figure counts as none');
  buffer.close();
});
