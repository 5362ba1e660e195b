// Direct scatter and gather between a client and worker processes over TCP: large binaries leave the
// client as the caller's own bytes (no encode copy) and every value comes back byte for byte, in its class.
// A worker killed while a value is on its way gives a typed error, not a hang.
import t from 'tap';
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client, DistributedError, LocalCluster, LostDataError, Scheduler, Security } from '../dist/index.js';
import { decodeValue, encodeValue, encodeValueParts, FrameParts, joinedBlob } from '../dist/lib/protocol/values.js';
import { encodeBatch, WireDecoder } from '../dist/lib/protocol/wire.js';
import { OUT_OF_BAND_THRESHOLD } from '../dist/lib/protocol/out-of-band.js';
import { DIRECT_TRANSFER_MIN_BYTES } from '../dist/lib/protocol/direct-transfer.js';
import { tokenize, tokenizePieces } from '../dist/lib/client/keys.js';
import { CliProcess } from './fixtures/cli-process.js';

const MiB = 1024 * 1024;

async function processCluster(t: Tap.Test, workers: number): Promise<{ scheduler: Scheduler; procs: CliProcess[] }> {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const procs: CliProcess[] = [];
  for (let i = 0; i < workers; i++) {
    const worker = new CliProcess('dworker', [scheduler.address, '--nthreads', '1', '--no-nanny']);
    t.teardown(() => worker.stop('SIGKILL'));
    await worker.waitForStdout(/^Registered with scheduler at/m);
    procs.push(worker);
  }
  return { scheduler, procs };
}

function bytesOf(value: ArrayBufferView | ArrayBuffer): Uint8Array {
  return value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function md5(value: ArrayBufferView | ArrayBuffer): string {
  return createHash('md5').update(bytesOf(value)).digest('hex');
}

function random<T extends ArrayBufferView>(view: T): T {
  randomFillSync(bytesOf(view));
  return view;
}

t.test('a large binary is sent as its own bytes and arrives as the blob encodeValue makes', async (t) => {
  const value = random(new Float64Array(50_000));
  const parts = encodeValueParts(value);
  t.ok(parts instanceof FrameParts, 'a large binary stays in pieces');
  const [header, bytes] = (parts as FrameParts).parts;
  t.equal(header!.byteLength, 8);
  t.equal(bytes!.buffer, value.buffer, 'the second piece is the caller\'s memory, not a copy');
  const joined = joinedBlob(parts);
  t.same(Buffer.from(joined), Buffer.from(encodeValue(value)), 'joined, it is exactly the encoded blob');
  t.ok(joined.buffer instanceof SharedArrayBuffer, 'joined into shared memory, as encodeValue does for large binaries');
  t.notOk(encodeValueParts(new Uint8Array(OUT_OF_BAND_THRESHOLD - 1)) instanceof FrameParts, 'a small binary is encoded whole');
  t.notOk(encodeValueParts({ a: 1 }) instanceof FrameParts);
});

t.test('the token of a large value: the same for its pieces and its joined bytes, and any byte changes it', async (t) => {
  const bytes = random(new Uint8Array(3 * MiB));
  const token = tokenize(bytes);
  t.match(token, /^[0-9a-f]{32}$/);
  t.equal(tokenizePieces([bytes.subarray(0, 8), bytes.subarray(8)]), token, 'pieces hash as their joined bytes');
  t.equal(tokenize(Uint8Array.from(bytes)), token, 'equal bytes, equal token');
  bytes[2 * MiB] ^= 1;
  t.not(tokenize(bytes), token, 'one byte changed, another token');
  t.not(tokenize(bytes.subarray(0, 1000)), tokenize(bytes.subarray(0, 1001)), 'small inputs too');
});

t.test('on the wire a frame in parts is the same bytes as the joined frame, compressed or cut into pieces alike', async (t) => {
  const concat = (buffers: Uint8Array[]): Buffer => Buffer.concat(buffers);
  const cases: Array<[string, ArrayBufferView]> = [
    ['incompressible', random(new Uint8Array(3 * MiB + 7))],
    ['compressible', new Float64Array(400_000).fill(1.25)],
    ['just over the out-of-band threshold', random(new Uint8Array(OUT_OF_BAND_THRESHOLD + 1))],
  ];
  for (const [label, value] of cases) {
    const parts = encodeValueParts(value) as FrameParts;
    const joined = encodeValue(value);
    for (const options of [{}, { compression: false }, { maxFrameBytes: 128 * 1024 }, { maxFrameBytes: 128 * 1024, compression: false }]) {
      const withParts = encodeBatch([{ op: 'update_data', data: { k: parts }, n: 1 }], options);
      const whole = encodeBatch([{ op: 'update_data', data: { k: joined }, n: 1 }], options);
      t.same(concat(withParts), concat(whole), `${label}, ${JSON.stringify(options)}: same bytes on the wire`);
      const [decoded] = new WireDecoder().push(concat(withParts));
      t.same(Buffer.from((decoded!.data as Record<string, Uint8Array>).k!), Buffer.from(joined), `${label}, ${JSON.stringify(options)}: decodes to the blob`);
    }
    const raw = encodeBatch([{ op: 'update_data', data: { k: parts } }], { compression: false });
    t.ok(raw.includes(parts.parts[1]!), `${label}: uncompressed and uncut, the caller's bytes are written as they are`);
  }
  // Where no wire frames exist (a plain msgpack encode), the parts are written inline, joined.
  const inline = decodeValue<{ k: Uint8Array }>(encodeValue({ k: new FrameParts([Uint8Array.of(1, 2), Uint8Array.of(3)]) }));
  t.same([...inline.k], [1, 2, 3]);
});

t.test('worker processes: values of every size and kind round-trip byte-identical', async (t) => {
  const { scheduler } = await processCluster(t, 2);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  await client.waitForWorkers(2);

  const sizes = [0, 1, OUT_OF_BAND_THRESHOLD - 1, OUT_OF_BAND_THRESHOLD, DIRECT_TRANSFER_MIN_BYTES - 9, DIRECT_TRANSFER_MIN_BYTES - 8, DIRECT_TRANSFER_MIN_BYTES + 1, 3 * MiB + 5];
  const buffers = sizes.map((n) => random(Buffer.alloc(n)));
  const typed = [
    random(new Float64Array(300_000)),
    random(new Float32Array(300_001)),
    random(new Int16Array(700_000)),
    random(new BigInt64Array(150_000)),
    random(new Uint8ClampedArray(1_500_000)),
    random(new Uint32Array(10)),
  ];
  const arrayBuffer = random(new Uint8Array(2 * MiB + 3)).buffer;
  const dataView = new DataView(random(new Uint8Array(1_200_000)).buffer, 16, 1_000_000);
  const mixed = { name: 'mixed', n: 42, nested: [1, 'two', { three: random(new Float64Array(200_000)) }], small: Buffer.from('hi') };
  const values: unknown[] = [...buffers, ...typed, arrayBuffer, dataView, mixed, 'a string', 12.5, null];

  const futures = await client.scatter(values, { hash: false });
  const holders = await client.whoHas(futures);
  t.ok(Object.values(holders).every((list) => list.length === 1), 'every value was placed on one worker');
  // Each value is checked on its worker (the stored bytes are right) and again once gathered.
  const onWorkers = await client.gather(
    futures.map((future) => client.submit((v: unknown) => {
      if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return { kind: v.constructor.name, bytes: v.byteLength };
      return { kind: typeof v, bytes: -1 };
    }, future)),
  );
  const back = await client.gather(futures);
  for (let i = 0; i < values.length; i++) {
    const sent = values[i];
    const got = back[i];
    if (sent instanceof ArrayBuffer || ArrayBuffer.isView(sent)) {
      const label = `${sent.constructor.name} of ${sent.byteLength} bytes`;
      t.equal((got as object).constructor.name, sent.constructor.name, `${label}: same class back`);
      t.equal(md5(got as ArrayBufferView), md5(sent), `${label}: same bytes back`);
      t.same(onWorkers[i], { kind: sent.constructor.name, bytes: sent.byteLength }, `${label}: a task on the worker sees it whole`);
    } else {
      t.same(got, sent, `${JSON.stringify(typeof sent)} value back as sent`);
    }
  }
  const three = (v: typeof mixed): Float64Array => (v.nested[2] as { three: Float64Array }).three;
  t.equal(md5(three(back[values.indexOf(mixed)] as typeof mixed)), md5(three(mixed)), 'a typed array inside an object comes back intact');

});

t.test('worker processes: 100 MB scatter and gather, byte-identical, and a task reads it on the worker', async (t) => {
  const { scheduler } = await processCluster(t, 1);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const payload = random(Buffer.allocUnsafeSlow(100_000_000));
  const expected = md5(payload);
  const future = await client.scatter(payload, { hash: false });
  const lastOnWorker = await client.submit((b: Buffer) => [b.length, b[b.length - 1]], future).result();
  t.same(lastOnWorker, [payload.length, payload[payload.length - 1]], 'the worker holds all of it');
  const back = await client.gather(future);
  t.ok(Buffer.isBuffer(back));
  t.equal(md5(back), expected, 'gathered bytes are the scattered ones');
  future.release();

  // With hash: true the key is the hash of the encoded value, the same whether it is sent in pieces or joined.
  const hashed = await client.scatter(payload.subarray(0, 3 * MiB));
  const again = await client.scatter(Buffer.from(payload.subarray(0, 3 * MiB)));
  t.equal(hashed.key, again.key, 'the same bytes give the same key');
  t.equal(md5(await client.gather(hashed)), md5(payload.subarray(0, 3 * MiB)));
});

t.test('over TLS too: scattered binaries leave in pieces and come back byte-identical', async (t) => {
  const security = await Security.temporary();
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 1, threadsPerWorker: 1, security });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster.schedulerAddress, { security });
  t.teardown(() => client.close());
  t.match(cluster.workerAddresses[0], /^tls:\/\//, 'the worker is reached over tls://');
  const values = [random(Buffer.allocUnsafeSlow(5 * MiB + 3)), random(new Float64Array(300_000)), random(new Uint8Array(MiB))];
  const back = await client.gather(await client.scatter(values, { hash: false }));
  for (let i = 0; i < values.length; i++) {
    t.equal(md5(back[i] as ArrayBufferView), md5(values[i]!), `${values[i]!.constructor.name} of ${values[i]!.byteLength} bytes: same bytes back`);
    t.equal((back[i] as object).constructor.name, values[i]!.constructor.name);
  }
});

function rssBytes(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line === null ? 0 : Number(line[1]) * 1024;
}

/** Resolves once `pid`'s memory has grown by `bytes` (a value arriving), polling every millisecond; then kills it. */
function killWhenGrown(worker: CliProcess, bytes: number): Promise<void> {
  const before = rssBytes(worker.pid);
  return new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (rssBytes(worker.pid) - before > bytes) {
        clearInterval(poll);
        worker.child.kill('SIGKILL');
        resolve();
      }
    }, 1);
  });
}

t.test('a worker killed while a scatter to it is arriving: a typed error, not a hang', async (t) => {
  const { scheduler, procs } = await processCluster(t, 2);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  await client.waitForWorkers(2);
  const victim = procs[0]!;
  const pinned = /Start worker at (\S+)/.exec(victim.stdout)![1]!;
  t.ok(Object.keys(await client.nthreads()).includes(pinned), 'the worker to kill is known by its address');
  const payload = random(Buffer.allocUnsafeSlow(200_000_000));
  const scattering = client.scatter(payload, { hash: false, workers: [pinned] });
  await killWhenGrown(victim, 30_000_000);
  const error = await scattering.then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof DistributedError, `scatter rejects with a typed error (${(error as Error)?.name}: ${(error as Error)?.message})`);

  // Unpinned, the value goes to a worker that is still there.
  const again = await client.scatter(payload.subarray(0, 20_000_000), { hash: false });
  t.equal(md5(await client.gather(again)), md5(payload.subarray(0, 20_000_000)), 'the next scatter lands on the live worker');
});

t.test('a worker killed while a gather is arriving: a typed error, not a hang', async (t) => {
  const { scheduler, procs } = await processCluster(t, 1);
  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  const future = await client.scatter(random(Buffer.allocUnsafeSlow(200_000_000)), { hash: false });
  const before = process.memoryUsage().arrayBuffers;
  const gathering = client.gather(future);
  // The client receives a large frame into memory of its own: kill once that memory exists.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (process.memoryUsage().arrayBuffers - before > 100_000_000) {
        clearInterval(poll);
        procs[0]!.child.kill('SIGKILL');
        resolve();
      }
    }, 1);
  });
  const error = await gathering.then(() => undefined, (e: unknown) => e);
  t.ok(error instanceof LostDataError, `gather rejects with LostDataError (${(error as Error)?.name}: ${(error as Error)?.message})`);
});
