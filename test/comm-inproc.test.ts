import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { setTimeout as delay } from 'node:timers/promises';
import { InprocComm, inprocPair, inprocTransport } from '../dist/lib/comm/inproc.js';
import { connect, listen } from '../dist/lib/comm/registry.js';
import { RpcChannel } from '../dist/lib/comm/rpc.js';
import { LARGE_BINARY_BYTES, sharedBytes } from '../dist/lib/comm/shared-bytes.js';
import { CommClosedError, ConnectError, SerializationError } from '../dist/lib/errors.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';
import type { Comm } from '../dist/lib/comm/comm.js';

function nextMessage(comm: Comm): Promise<OpDict> {
  return new Promise((resolve) => comm.onMessage(resolve));
}

t.test('messages written in one tick travel as one postMessage; a lone message goes at once', async (t) => {
  const { port1, port2 } = new MessageChannel();
  const comm = new InprocComm(port1, 'inproc://a', 'inproc://b');
  const batches: unknown[][] = [];
  port2.on('message', (batch: unknown[]) => batches.push(batch));
  t.teardown(() => comm.close());
  comm.write({ op: 'x', n: 1 });
  comm.write({ op: 'x', n: 2 });
  comm.write({ op: 'x', n: 3 });
  await delay(20);
  comm.write({ op: 'y' });
  await delay(20);
  t.same(batches, [[{ op: 'x', n: 1 }, { op: 'x', n: 2 }, { op: 'x', n: 3 }], [{ op: 'y' }]]);
});

t.test('large binaries arrive intact and share memory with the sender', async (t) => {
  const [a, b] = inprocPair();
  t.teardown(() => a.close());
  const received: OpDict[] = [];
  b.onMessage((msg) => received.push(msg));

  // Already in shared memory: sent as is.
  const size = 4 * LARGE_BINARY_BYTES;
  const shared = new Uint8Array(new SharedArrayBuffer(size));
  for (let i = 0; i < size; i++) shared[i] = i % 251;
  // An ordinary buffer: moved into shared memory once, then shared on every later send.
  const plain = new Uint8Array(size).map((_, i) => (i * 7) % 256);
  const plainCopy = plain.slice();
  // A small view into a big slab: only its own bytes travel.
  const slab = new Uint8Array(1 << 20);
  slab.set([9, 8, 7], 100);
  const small = slab.subarray(100, 103);

  const floats = new Float64Array(LARGE_BINARY_BYTES / 4).fill(1.5);
  a.write({ op: 'data', shared, nested: { list: [plain] }, small, floats });
  a.write({ op: 'data-again', plain });
  for (let i = 0; i < 100 && received.length < 2; i++) await delay(5);
  t.equal(received.length, 2);

  const got = received[0]!.shared as Uint8Array;
  t.equal(got.byteLength, size);
  t.ok(got.buffer instanceof SharedArrayBuffer, 'receiver holds a view on shared memory');
  t.ok(got.every((v, i) => v === i % 251), 'bytes arrive intact');
  got[10] = 200;
  t.equal(shared[10], 200, 'a write on the receiver is seen by the sender: same memory, no copy');
  shared[11] = 201;
  t.equal(got[11], 201, 'and the other way round');

  const first = (received[0]!.nested as { list: Uint8Array[] }).list[0]!;
  const second = received[1]!.plain as Uint8Array;
  t.same(Buffer.from(first), Buffer.from(plainCopy), 'ordinary buffer arrives intact');
  t.ok(first.buffer instanceof SharedArrayBuffer);
  first[0] = 77;
  t.equal(second[0], 77, 'two sends of one ordinary buffer share one shared copy');
  t.equal(sharedBytes(plain)[0], 77, 'the sender reaches that shared copy through sharedBytes()');
  t.equal(plain[0], plainCopy[0], "the sender's own object is not mutated or detached");
  t.equal(plain.byteLength, size);

  const gotFloats = received[0]!.floats as Float64Array;
  t.type(gotFloats, Float64Array, 'typed arrays keep their type');
  t.ok(gotFloats.buffer instanceof SharedArrayBuffer && gotFloats.length === floats.length && gotFloats[7] === 1.5);

  const gotSmall = received[0]!.small as Uint8Array;
  t.same([...gotSmall], [9, 8, 7]);
  t.equal(gotSmall.buffer.byteLength, 3, 'a small view does not drag its whole slab along');
});

t.test('closing one end closes both; onClose fires once on each with the right reason', async (t) => {
  const [a, b] = inprocPair();
  const seenByB: OpDict[] = [];
  b.onMessage((msg) => seenByB.push(msg));
  const closes: { side: string; reason?: Error }[] = [];
  a.onClose((reason) => closes.push({ side: 'a', reason }));
  b.onClose((reason) => closes.push({ side: 'b', reason }));
  a.write({ op: 'before-close' });
  const closing = a.close();
  t.equal(a.closed, true, 'closed at once from the closer side');
  a.write({ op: 'after-close' }); // silent no-op
  await closing;
  await a.close(); // idempotent
  for (let i = 0; i < 100 && closes.length < 2; i++) await delay(5);
  t.same(seenByB, [{ op: 'before-close' }], 'messages written before close are delivered; later ones are not');
  t.equal(closes.length, 2);
  t.equal(closes.find((c) => c.side === 'a')!.reason, undefined, 'local close has no reason');
  t.type(closes.find((c) => c.side === 'b')!.reason, CommClosedError, 'remote close says why');
  t.equal(b.closed, true);
  let late = 0;
  a.onClose(() => late++);
  await delay(5);
  t.equal(late, 1, 'a close handler registered after the fact still hears about it');
});

t.test('addresses: unique allocation, named addresses, unknown addresses', async (t) => {
  const accepted: Comm[] = [];
  const l1 = await listen('inproc://', (c) => accepted.push(c));
  const l2 = await listen('inproc://', (c) => accepted.push(c));
  const named = await inprocTransport.listen('inproc://my-scheduler', (c) => accepted.push(c));
  t.teardown(async () => {
    await Promise.all([l1.close(), l2.close(), named.close()]);
    await Promise.all(accepted.map((c) => c.close()));
  });
  t.match(l1.address, /^inproc:\/\/\d+\/\d+$/);
  t.not(l1.address, l2.address);
  t.equal(named.address, 'inproc://my-scheduler');
  await t.rejects(listen('inproc://my-scheduler', () => undefined), /already in use/);

  const comm = await connect('inproc://my-scheduler');
  t.teardown(() => comm.close());
  t.equal(comm.peerAddress, 'inproc://my-scheduler');
  t.equal(accepted.length, 1);
  t.equal(accepted[0]!.peerAddress, comm.localAddress);
  const reply = nextMessage(comm);
  accepted[0]!.onMessage((msg) => accepted[0]!.write({ op: 'pong', got: msg.op }));
  comm.write({ op: 'ping' });
  t.same(await reply, { op: 'pong', got: 'ping' });

  const started = performance.now();
  const error = await connect('inproc://nobody-here').catch((e: unknown) => e);
  t.type(error, ConnectError);
  t.match((error as Error).message, /inproc:\/\/nobody-here/);
  t.ok(performance.now() - started < 100, 'fails fast');
});

t.test('a message that cannot be cloned is dropped alone; an RPC carrying it rejects', async (t) => {
  const [a, b] = inprocPair();
  t.teardown(() => a.close());
  const got: OpDict[] = [];
  b.onMessage((msg) => {
    got.push(msg);
    if (typeof msg.id === 'number') b.write({ op: 'reply', id: msg.id, status: 'OK', result: 'fine' });
  });
  const rpc = new RpcChannel(a);
  a.write({ op: 'one' });
  a.write({ op: 'bad', fn: () => 1 });
  a.write({ op: 'two' });
  const error = await rpc.call({ op: 'bad-call', fn: () => 2 }).catch((e: unknown) => e);
  t.type(error, SerializationError);
  t.equal(await rpc.call({ op: 'good-call' }), 'fine');
  t.same(got.map((m) => m.op), ['one', 'two', 'good-call']);
});

t.test('a process whose inproc comms are all closed exits by itself', async (t) => {
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));
  const script = `
    import { MailboxActor } from '${dist}lib/comm/mailbox.js';
    class Echo extends MailboxActor { handlers = { echo: (m) => m.value }; }
    class Caller extends MailboxActor { handlers = {}; }
    const server = new Echo('server');
    const client = new Caller('client');
    const listener = await server.listen('inproc://');
    const peer = await client.connect(listener.address);
    const value = await peer.call({ op: 'echo', value: 'round trip' });
    await client.close();
    await server.close();
    console.log(value);
  `;
  const started = performance.now();
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve({ stdout });
    });
  });
  t.equal(stdout.trim(), 'round trip');
  t.ok(performance.now() - started < 5000, 'exited promptly');
});
