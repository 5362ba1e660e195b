import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '../dist/index.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { MailboxActor, type Handler } from '../dist/lib/comm/mailbox.js';
import { connect, listen } from '../dist/lib/comm/registry.js';
import { MAX_DIRECT_PER_TURN, uncloneablePart } from '../dist/lib/comm/direct-delivery.js';
import { INLINE_RESULT_BYTES } from '../dist/lib/protocol/inline-results.js';
import { decodeValue, encodeValue } from '../dist/lib/protocol/values.js';
import type { Comm } from '../dist/lib/comm/comm.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

/** Counts the requests with op `op` that reach `actor` (wrapping its handler). */
function countRequests(actor: MailboxActor, op: string): { count: number } {
  const handlers = (actor as unknown as { handlers: Record<string, Handler> }).handlers;
  const original = handlers[op]!;
  const counter = { count: 0 };
  handlers[op] = function (this: unknown, msg, from) {
    counter.count++;
    return original.call(this, msg, from);
  };
  return counter;
}

t.test('small results come with key-in-memory: result() and gather need no gather RPC; large ones still fetch', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: false });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const gathers = countRequests(cluster.scheduler, 'gather');
  const square = (x: number): number => x * x;
  t.equal(await client.submit(square, 12).result(), 144);
  const futures = client.map(square, Array.from({ length: 500 }, (_, i) => i));
  const values = await client.gather(futures);
  t.same(values.slice(0, 4), [0, 1, 4, 9]);
  t.equal(values[499], 499 * 499);
  const nested = await client.submit((n: number) => ({ list: Array.from({ length: n }, (_, i) => i), tag: 'ok' }), 100).result();
  t.same(nested.list.length, 100, 'a structured value decodes from the inline blob');
  t.equal(gathers.count, 0, 'no gather RPC for small values');

  const big = INLINE_RESULT_BYTES + 1024;
  const bytes = await client.submit((n: number) => new Uint8Array(n).fill(7), big).result();
  t.equal(bytes.byteLength, big);
  t.equal(bytes[big - 1], 7);
  t.equal(gathers.count, 1, 'a value above the inline limit is fetched with one gather');

  const failing = client.submit((x: number) => {
    if (x > 0) throw new RangeError(`too big: ${x}`);
    return x;
  }, 3);
  await t.rejects(failing.result(), { name: 'RangeError', message: 'too big: 3' }, 'errors still reject result()');
  const mixed = [client.submit(square, 5), failing];
  await t.rejects(client.gather(mixed), { name: 'RangeError' }, 'and gather');
  t.same(await client.gather(mixed, { errors: 'skip' }), [25]);
});

t.test('inproc comms made by connect hand messages over directly, in order, without starving timers', async (t) => {
  const accepted: Comm[] = [];
  const listener = await listen('inproc://', (comm) => accepted.push(comm));
  const a = await connect(listener.address);
  const b = accepted[0]!;
  t.teardown(async () => {
    await a.close();
    await listener.close();
  });

  const payload = { op: 'data', nested: { list: [1, 2, 3] }, bytes: new Uint8Array([1, 2, 3]) };
  const first = new Promise<OpDict>((resolve) => b.onMessage(resolve));
  a.write(payload);
  t.equal(await first, payload, 'the receiver gets the very object written: no clone');

  // A ping-pong longer than one turn's budget: every message arrives, in order, and a timer set
  // before it still runs before it ends.
  const total = MAX_DIRECT_PER_TURN * 3;
  const seen: number[] = [];
  let timerRanAt = -1;
  const done = new Promise<void>((resolve) => {
    b.onMessage((msg) => {
      seen.push(msg.n as number);
      if ((msg.n as number) + 1 < total) b.write({ op: 'pong', n: (msg.n as number) + 1 });
      else resolve();
    });
    a.onMessage((msg) => {
      seen.push(msg.n as number);
      if ((msg.n as number) + 1 < total) a.write({ op: 'ping', n: (msg.n as number) + 1 });
      else resolve();
    });
  });
  setTimeout(() => (timerRanAt = seen.length), 0);
  a.write({ op: 'ping', n: 0 });
  await done;
  t.equal(seen.length, total);
  t.ok(seen.every((n, i) => n === i), 'messages arrive in the order written');
  t.ok(timerRanAt >= 0 && timerRanAt < total, `a timer ran during the exchange (after ${timerRanAt} messages)`);
});

t.test('uncloneablePart names what a MessagePort could not clone', async (t) => {
  t.equal(uncloneablePart({ op: 'x', a: [1, { b: new Uint8Array(3) }], m: new Map([[1, 'x']]) }), undefined);
  t.equal(uncloneablePart({ op: 'x', result: { fn: () => 1 } }), '.result.fn (function)');
  t.equal(uncloneablePart({ op: 'x', list: [1, Symbol('s')] }), '.list[1] (symbol)');
  t.equal(uncloneablePart({ op: 'x', p: Promise.resolve() }), '.p (Promise)');
});

t.test('large binaries encode in one copy, their bytes 8 bytes into an exactly sized blob', async (t) => {
  const n = 70_000;
  const values = [
    new Uint8Array(n).map((_, i) => i % 251),
    Buffer.alloc(n, 7),
    new Float64Array(n / 8 + 3).fill(1.5),
    new Int16Array(n).fill(-3),
    new ArrayBuffer(n),
    new DataView(new ArrayBuffer(n + 5)),
    new Uint8Array(1 << 17).subarray(5, 5 + n),
  ];
  for (const value of values) {
    const blob = encodeValue(value);
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    t.equal(blob.byteLength, 8 + bytes.byteLength, `${value.constructor.name}: an 8-byte header, then the bytes`);
    t.same(Buffer.from(blob.subarray(8)), Buffer.from(bytes), `${value.constructor.name}: same bytes`);
    t.ok(blob.byteOffset === 0 && blob.byteLength === blob.buffer.byteLength, 'the blob owns its whole buffer');
    const back = decodeValue<ArrayBufferView | ArrayBuffer>(blob);
    t.equal(back.constructor, value.constructor, 'same type back');
    t.equal(back.byteLength, value.byteLength);
  }
});

t.test('the first function shipped does not wake lazy globals (undici, web streams)', async (t) => {
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));
  const script = `
    const { toFunctionRef } = await import('${dist}lib/task-function.js');
    toFunctionRef(function inc(x) { return x + 1; });
    const still = ['FormData', 'Headers', 'ReadableStream'].filter((n) => Object.getOwnPropertyDescriptor(globalThis, n)?.get !== undefined);
    console.log(JSON.stringify({ still, max: toFunctionRef(Math.max), timer: toFunctionRef(setTimeout) }));
  `;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 }, (error, out) => (error ? reject(error) : resolve(out)));
  });
  const report = JSON.parse(stdout) as { still: string[]; max: { path: string }; timer: { path: string } };
  t.same(report.still, ['FormData', 'Headers', 'ReadableStream'], 'their getters were never read');
  t.equal(report.max.path, 'Math.max', 'platform functions still travel by path');
  t.equal(report.timer.path, 'setTimeout');
});
