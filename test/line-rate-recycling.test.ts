// A worker reads large scattered values into the buffers of values it released (frame-recycling.ts),
// but only buffers nothing else can still see: not one a task was given, not one a send still reads.
import t from 'tap';
import { createHash, randomFillSync } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { once } from 'node:events';
import { connect } from 'node:net';
import { Client, Scheduler } from '../dist/index.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';
import { encodeBatch, WireDecoder } from '../dist/lib/protocol/wire.js';
import { decodeValue } from '../dist/lib/protocol/values.js';
import {
  claim,
  expose,
  recyclingCounters,
  release,
  sendCallback,
  sendQueued,
  takeFrameBuffer,
  RECYCLE_MIN_BYTES,
  emptyPool,
} from '../dist/lib/protocol/frame-recycling.js';
import { RecyclingStore } from '../dist/lib/worker/recycling-store.js';
import { CliProcess } from './fixtures/cli-process.js';
import { eventually } from './fixtures/survive.js';

const RECYCLING_MODULE = pathToFileURL(fileURLToPath(new URL('../dist/lib/protocol/frame-recycling.js', import.meta.url))).href;
const MB = 1_000_000;

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex');
const random = (n: number): Buffer => randomFillSync(Buffer.allocUnsafeSlow(n));

/** A whole-buffer view, as the decoder hands a large frame over. */
const frame = (n: number): Buffer => Buffer.from(takeFrameBuffer(n));

t.test('a claimed, released frame buffer is handed out again; an exposed one never', async (t) => {
  emptyPool();
  const owner = {};
  const a = frame(2 * MB);
  t.ok(claim(a, owner), 'the owner claims a fresh frame');
  t.notOk(claim(a, {}), 'a second claim fails');
  const before = recyclingCounters().recycled;
  release(a, owner);
  t.equal(recyclingCounters().recycled, before + 1, 'released: it went to the pool');
  const again = takeFrameBuffer(2 * MB);
  t.equal(again, a.buffer, 'the next frame of that size gets the same memory');
  t.not(takeFrameBuffer(2 * MB), a.buffer, 'and only once');

  const b = frame(2 * MB);
  claim(b, owner);
  expose(b);
  release(b, owner);
  t.not(takeFrameBuffer(2 * MB), b.buffer, 'an exposed buffer is not recycled');

  const c = frame(2 * MB);
  claim(c, {});
  release(c, owner);
  t.not(takeFrameBuffer(2 * MB), c.buffer, 'only its owner can release it');

  const plain = Buffer.from(new SharedArrayBuffer(2 * MB));
  t.notOk(claim(plain, owner), 'memory the pool did not hand out cannot be claimed');
  const part = frame(2 * MB);
  t.notOk(claim(part.subarray(1), owner), 'nor part of a frame');
  const small = frame(RECYCLE_MIN_BYTES - 1);
  t.notOk(claim(small, owner), 'nor a frame below the recycling size');
  emptyPool();
});

t.test('a frame buffer released while sends of it are queued goes back only when the last write completes', async (t) => {
  emptyPool();
  const owner = {};
  const a = frame(3 * MB);
  claim(a, owner);
  sendQueued(a);
  sendQueued(a);
  release(a, owner);
  t.not(takeFrameBuffer(3 * MB), a.buffer, 'two sends queued: not in the pool');
  t.equal(sendCallback(a.subarray(0, 2 * MB)), undefined, 'a piece of the frame is not its send');
  const first = sendCallback(a)!;
  const second = sendCallback(a)!;
  t.type(first, 'function');
  first();
  t.not(takeFrameBuffer(3 * MB), a.buffer, 'one send written: still not');
  second();
  t.equal(takeFrameBuffer(3 * MB), a.buffer, 'both written: recycled');
  emptyPool();
});

t.test('RecyclingStore: reading a value exposes it, sending it does not, a buffer claimed twice is left alone', async (t) => {
  emptyPool();
  const store = new RecyclingStore(new Map());
  const sent = frame(2 * MB);
  const read = frame(2 * MB);
  store.claim([sent, read]);
  store.set('sent', sent);
  store.set('read', read);
  t.equal(store.sizeOf('sent'), 2 * MB);
  t.equal(store.getForSending('sent'), sent);
  sendCallback(sent)!();
  t.equal(store.get('read'), read);
  t.ok(store.delete('sent'));
  t.ok(store.delete('read'));
  const next = [takeFrameBuffer(2 * MB), takeFrameBuffer(2 * MB)];
  t.ok(next.includes(sent.buffer as SharedArrayBuffer), 'the value only sent (and written) was recycled');
  t.notOk(next.includes(read.buffer as SharedArrayBuffer), 'the value read was not');

  const twice = frame(2 * MB);
  store.claim([twice, Buffer.from(twice.buffer)]);
  store.set('x', twice);
  store.set('y', Buffer.from(twice.buffer));
  store.delete('x');
  t.not(takeFrameBuffer(2 * MB), twice.buffer, 'one buffer under two keys is never recycled');
  t.equal(store.size, 1);
  emptyPool();
});

interface Counters {
  reused: number;
  recycled: number;
}

async function workerCluster(t: Tap.Test): Promise<{ client: Client; counters: () => Promise<Counters> }> {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const worker = new CliProcess('dworker', [scheduler.address, '--nthreads', '1', '--no-nanny']);
  t.teardown(() => worker.stop('SIGKILL'));
  await worker.waitForStdout(/^Registered with scheduler at/m);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const counters = async (): Promise<Counters> => {
    const all = await client.run(async (url: string) => ((await import(url)) as { recyclingCounters: () => Counters }).recyclingCounters(), RECYCLING_MODULE);
    return Object.values(all)[0]!;
  };
  return { client, counters };
}

t.test('worker process: scatter, gather, release, again: later values land in recycled memory and come back byte-identical', async (t) => {
  const { client, counters } = await workerCluster(t);
  const size = 8 * MB;
  const start = await counters();
  for (let round = 0; round < 6; round++) {
    const payload = random(size);
    const future = await client.scatter(payload, { hash: false });
    const back = await client.gather(future);
    t.equal(md5(back), md5(payload), `round ${round}: the gathered bytes are the scattered ones`);
    const recycledBefore = (await counters()).recycled;
    future.release();
    // The release travels client -> scheduler -> worker: wait until the worker has pooled the buffer.
    await eventually(async () => ((await counters()).recycled > recycledBefore ? true : undefined));
  }
  const end = await counters();
  t.ok(end.recycled - start.recycled >= 6, `every released value went to the pool (${end.recycled - start.recycled})`);
  t.ok(end.reused - start.reused >= 5, `every later scatter reused one (${end.reused - start.reused})`);
});

t.test('worker process: a value a task was given is never recycled, even after it is released', async (t) => {
  const { client, counters } = await workerCluster(t);
  const size = 4 * MB;
  const kept = random(size);
  const keptFuture = await client.scatter(kept, { hash: false });
  // The task keeps a reference to the value on its thread, beyond its own run.
  await client.submit((b: Buffer) => { (globalThis as { kept?: Buffer }).kept = b; return b.length; }, keptFuture).result();
  keptFuture.release();
  const start = await counters();
  for (let round = 0; round < 4; round++) {
    const payload = random(size);
    const future = await client.scatter(payload, { hash: false });
    t.equal(md5(await client.gather(future)), md5(payload), `round ${round}: byte-identical`);
    const recycledBefore = (await counters()).recycled;
    future.release();
    // Releases reach the worker in order: once this one is pooled, the kept value's release was handled too.
    await eventually(async () => ((await counters()).recycled > recycledBefore ? true : undefined));
  }
  const end = await counters();
  t.ok(end.reused - start.reused >= 1, `later scatters did reuse memory (${end.reused - start.reused})`);
  const stillKept = await client.submit(() => {
    const b = (globalThis as { kept?: Buffer }).kept;
    return b === undefined ? null : Array.from(b.subarray(0, 64));
  }).result();
  t.same(stillKept, Array.from(kept.subarray(0, 64)), "the task's reference still holds the value's own bytes");
  const lastBytes = await client.submit(() => {
    const b = (globalThis as { kept?: Buffer }).kept!;
    return Array.from(b.subarray(b.length - 64));
  }).result();
  t.same(lastBytes, Array.from(kept.subarray(size - 64)), 'to the last byte');
});

t.test('worker process: a value released while a get_data reply still writes it is not overwritten by the next scatter', async (t) => {
  const { client, counters } = await workerCluster(t);
  const [address] = Object.keys(await client.nthreads());
  const size = 64 * MB;
  const payload = random(size);
  const future = await client.scatter(payload, { hash: false });

  // A peer that asks for the value and does not read the reply: the worker's write stays unfinished.
  const { host, port } = /^tcp:\/\/(?<host>[^:]+):(?<port>\d+)$/.exec(address!)!.groups!;
  const socket = connect({ host: host!, port: Number(port) });
  await once(socket, 'connect');
  socket.pause();
  for (const piece of encodeBatch([{ op: 'get_data', keys: [future.key], who: 'slow-reader', id: 1 }])) socket.write(piece);
  // Its first bytes are here (held, unread): the worker is writing the reply.
  await eventually(() => (socket.readableLength > 0 ? true : undefined));

  const start = await counters();
  future.release();
  // Releases reach the worker in order: once this later one is pooled, the slow-read value's release was handled.
  const marker = await client.scatter(random(2 * MB), { hash: false });
  await client.gather(marker);
  marker.release();
  await eventually(async () => ((await counters()).recycled > start.recycled ? true : undefined));
  const afterRelease = await counters();
  t.equal(afterRelease.recycled - start.recycled, 1, 'only the marker went to the pool, not the value still being written');

  // Same size: a recycled buffer would be the one the slow reader has yet to receive.
  const next = random(size);
  const nextFuture = await client.scatter(next, { hash: false });

  const decoder = new WireDecoder();
  const replies: OpDict[] = [];
  socket.on('data', (chunk: Buffer) => replies.push(...decoder.push(chunk)));
  socket.resume();
  await eventually(() => (replies.length > 0 ? true : undefined), 60_000);
  socket.destroy();
  const reply = replies[0] as { status: string; result: { status: string; data: Record<string, Uint8Array> } };
  t.equal(reply.status, 'OK');
  const blob = reply.result.data[future.key]!;
  t.equal(md5(decodeValue<Buffer>(blob)), md5(payload), 'the slow reader got the released value, byte for byte');
  t.equal(md5(await client.gather(nextFuture)), md5(next), 'and the next value is intact too');
  const end = await counters();
  t.ok(end.recycled > afterRelease.recycled, 'once written, the released value went to the pool after all');
});
