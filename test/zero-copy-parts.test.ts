// The pieces of holding a large binary by reference, on the main thread: the view of a
// header + caller's-bytes pair, what a post to a thread makes of it, the one shared copy,
// and spilling it to disk piece by piece.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWithViews, encodeValue, encodeValueParts, FrameParts } from '../dist/lib/protocol/values.js';
import { loneBinaryParts, viewOfLoneBinaryParts } from '../dist/lib/protocol/lone-binary.js';
import { inlineValue } from '../dist/lib/protocol/inline-results.js';
import { prepareForPost } from '../dist/lib/comm/shared-bytes.js';
import { compactBatch } from '../dist/lib/worker/batch-port.js';
import { afterWritten, SpillBuffer } from '../dist/lib/worker/spill-buffer.js';
import { memoryFractions, thresholds } from '../dist/lib/worker/spill-policy.js';

t.test('a large binary scattered keeps the caller’s bytes: header and the value itself', async (t) => {
  const payload = Buffer.alloc(100_000, 2);
  const parts = encodeValueParts(payload) as FrameParts;
  t.ok(parts instanceof FrameParts);
  t.equal(parts.parts.length, 2);
  t.equal(parts.parts[1], payload, 'the second piece is the caller’s Buffer');
  t.notOk(parts.inSharedMemory, 'ordinary memory: a thread needs a copy');
  t.ok((encodeValueParts(Buffer.from(new SharedArrayBuffer(100_000))) as FrameParts).inSharedMemory, 'shared memory: posting copies only the 8-byte header');
  t.ok(encodeValueParts(new Uint8Array(100)) instanceof Uint8Array, 'a small value is encoded (copied) as before');
});

t.test('viewOfLoneBinaryParts: the same memory, in the class given', async (t) => {
  const floats = new Float64Array(20_000).fill(0.5);
  const v = viewOfLoneBinaryParts(loneBinaryParts(floats)) as Float64Array;
  t.ok(v instanceof Float64Array && v.buffer === floats.buffer && v.length === 20_000);
  const big = Buffer.alloc(200_000);
  const slice = big.subarray(8, 100_008);
  const b = viewOfLoneBinaryParts(loneBinaryParts(slice)) as Buffer;
  t.ok(Buffer.isBuffer(b) && b.buffer === big.buffer && b.byteOffset === slice.byteOffset && b.length === 100_000, 'a view keeps its offset');
  const raw = new ArrayBuffer(70_000);
  t.equal(viewOfLoneBinaryParts(loneBinaryParts(raw)), raw, 'an ArrayBuffer is itself');
  const dv = new DataView(new ArrayBuffer(80_000), 16, 70_000);
  const d = viewOfLoneBinaryParts(loneBinaryParts(dv)) as DataView;
  t.ok(d instanceof DataView && d.buffer === dv.buffer && d.byteOffset === 16 && d.byteLength === 70_000);
  const u = new Uint16Array(40_000);
  t.ok(viewOfLoneBinaryParts(loneBinaryParts(u)) instanceof Uint16Array);

  t.equal(viewOfLoneBinaryParts({ parts: [new Uint8Array(8), big], byteLength: 200_008 }), undefined, 'not a lone-binary header');
  const [header] = loneBinaryParts(big).parts;
  t.equal(viewOfLoneBinaryParts({ parts: [header!, big.subarray(1)], byteLength: 200_007 }), undefined, 'a length the header does not say');
  t.equal(viewOfLoneBinaryParts({ parts: [header!], byteLength: 8 }), undefined, 'one piece');
});

t.test('posted to a thread, shared parts arrive as a plain object and decode as a view of the same memory', async (t) => {
  const shared = Buffer.from(new SharedArrayBuffer(100_000));
  shared[7] = 7;
  const parts = encodeValueParts(shared) as FrameParts;
  const cloned = structuredClone(parts);
  t.notOk(cloned instanceof FrameParts, 'the class stays behind');
  const back = decodeWithViews<Buffer>(cloned);
  t.ok(Buffer.isBuffer(back) && back.buffer instanceof SharedArrayBuffer && back[7] === 7, 'a Buffer over shared memory');
  shared[9] = 9;
  t.equal(back[9], 9, 'the caller’s memory itself: a later write shows');
  t.throws(() => decodeWithViews({ byteLength: 3 } as never), { name: 'SerializationError' }, 'something else is refused clearly');
});

t.test('parts that are not one binary are joined and decoded', async (t) => {
  const blob = encodeValue({ a: [1, 2, 3], s: 'x'.repeat(100) });
  const parts = new FrameParts([blob.subarray(0, 10), blob.subarray(10)]);
  t.same(decodeWithViews(parts), { a: [1, 2, 3], s: 'x'.repeat(100) });
  t.same(decodeWithViews({ parts: parts.parts, byteLength: parts.byteLength }), { a: [1, 2, 3], s: 'x'.repeat(100) });
});

t.test('shared(): one copy in shared memory, the same for every reader while one holds it', async (t) => {
  const payload = new Float64Array(50_000).fill(3);
  const parts = encodeValueParts(payload) as FrameParts;
  const copy = parts.shared();
  t.ok(copy.buffer instanceof SharedArrayBuffer && copy.byteLength === parts.byteLength);
  t.equal(parts.shared(), copy, 'the same copy each time');
  t.same(copy, parts.join(), 'holding the joined blob');
  const view = decodeWithViews<Float64Array>(copy);
  t.ok(view instanceof Float64Array && view.buffer === copy.buffer && view[49_999] === 3, 'which decodes as a view of itself');

  const posted = prepareForPost({ op: 'get_data-reply', data: { k: parts } }) as { data: { k: Uint8Array } };
  t.equal(posted.data.k, copy, 'a post to another thread carries that copy, not another');
  t.equal(inlineValue(parts), undefined, 'never inlined');
  const batch = [{ key: 'x', runSpec: { fn: { kind: 'global', path: '', name: 'f' }, args: new Uint8Array(4) }, deps: { k: parts } }];
  t.equal(compactBatch(batch as never)[0]!.deps.k, parts, 'compacting a batch leaves held parts alone');
});

t.test('a SpillBuffer writes held parts piece by piece and reads back the joined blob', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'zero-copy-spill-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const store = new SpillBuffer(join(directory, 'store'), thresholds(1_000_000, memoryFractions()));
  const payload = Buffer.alloc(700_000);
  for (let i = 0; i < payload.length; i++) payload[i] = i % 253;
  const parts = encodeValueParts(payload) as FrameParts;
  store.set('big', parts);
  t.ok(store.isSpilled('big'), 'over the target: straight to disk');
  t.equal(store.sizeOf('big'), 700_008);
  const back = store.get('big') as Uint8Array;
  t.ok(back instanceof Uint8Array && Buffer.from(back).equals(Buffer.from(parts.join())), 'the file holds exactly the joined blob');
  const value = decodeWithViews<Buffer>(back);
  t.ok(Buffer.isBuffer(value) && value.equals(payload), 'which decodes to the value');
  store.close();
});

t.test('afterWritten: what a short writev leaves', async (t) => {
  const a = Uint8Array.of(1, 2, 3);
  const b = Uint8Array.of(4, 5, 6, 7);
  t.same(afterWritten([a, b], 0).map((p) => [...p]), [[1, 2, 3], [4, 5, 6, 7]]);
  t.same(afterWritten([a, b], 2).map((p) => [...p]), [[3], [4, 5, 6, 7]]);
  t.same(afterWritten([a, b], 3).map((p) => [...p]), [[4, 5, 6, 7]]);
  t.same(afterWritten([a, b], 5).map((p) => [...p]), [[6, 7]]);
  t.same(afterWritten([a, b], 7), []);
});
