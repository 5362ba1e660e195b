/**
 * Large frames on real sockets, tcp:// and tls:// alike (one framing, one
 * decoder): paced writes (a frame over the write slice handed to the socket
 * a slice at a time), huge frames both ways, a stream cut at every frame
 * boundary into a dialed and an accepted comm, and garbage after a good
 * handshake.
 */
import t from 'tap';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import { Security } from '../dist/index.js';
import { connect, listen } from '../dist/lib/comm/registry.js';
import { parseTcpAddress, TcpComm } from '../dist/lib/comm/tcp.js';
import { encodeBatch } from '../dist/lib/protocol/wire.js';
import type { Comm } from '../dist/lib/comm/comm.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

const security = await Security.temporary();
const schemes = ['tcp', 'tls'] as const;
type Scheme = (typeof schemes)[number];

async function waitFor(condition: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await delay(5);
  }
  return true;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** A connected pair of raw sockets (net or node:tls with the test credentials): [dialed, accepted]. */
async function socketPair(scheme: Scheme): Promise<{ dialed: net.Socket; accepted: net.Socket; close: () => void }> {
  let resolveAccepted: (socket: net.Socket) => void = () => undefined;
  const acceptedP = new Promise<net.Socket>((resolve) => (resolveAccepted = resolve));
  const server = scheme === 'tls'
    ? tls.createServer(security.serverOptions(), (socket) => resolveAccepted(socket))
    : net.createServer((socket) => resolveAccepted(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const dialed = scheme === 'tls' ? tls.connect({ host: '127.0.0.1', port, ...security.clientOptions('127.0.0.1') }) : net.connect({ host: '127.0.0.1', port });
  await once(dialed, scheme === 'tls' ? 'secureConnect' : 'connect');
  const accepted = await acceptedP;
  return {
    dialed,
    accepted,
    close: () => {
      dialed.destroy();
      accepted.destroy();
      server.close();
    },
  };
}

for (const scheme of schemes) {
  t.test(`${scheme}: paced writes — frames around the slice size arrive whole, in order, and close() sends them all first`, async (t) => {
    const slice = 4096;
    const { dialed, accepted, close } = await socketPair(scheme);
    t.teardown(close);
    const sender = new TcpComm(dialed, { scheme, writeSliceBytes: slice });
    const receiver = new TcpComm(accepted, { scheme });
    const received: OpDict[] = [];
    const closed = new Promise<void>((resolve) => receiver.onClose(() => resolve()));
    receiver.onMessage((msg) => received.push(msg));

    const sizes = [1, slice - 1, slice, slice + 1, 2 * slice - 1, 2 * slice, 2 * slice + 1, 3 * slice + 17, 70_000, 1024 * 1024 + 1, 3 * 1024 * 1024 + 5];
    const sent = sizes.map((size) => randomFillSync(new Uint8Array(size)));
    // One tick: small messages between big ones, all in one batch.
    sent.forEach((data, i) => {
      sender.write({ op: 'small', i });
      sender.write({ op: 'blob', i, data });
    });
    // Another tick, while slices of the first batch are still unsent.
    await delay(0);
    for (let i = 0; i < 3; i++) sender.write({ op: 'later', i, data: sent.at(-1)! });
    sender.write({ op: 'last' });
    await sender.close();
    await closed;

    const expected = [...sent.flatMap((_, i) => ['small', 'blob']), 'later', 'later', 'later', 'last'];
    t.same(received.map((m) => m.op), expected, 'every message, in the order written');
    t.ok(sent.every((data, i) => same(received[2 * i + 1]!.data as Uint8Array, data)), 'each binary intact');
    t.ok(received.filter((m) => m.op === 'later').every((m) => same(m.data as Uint8Array, sent.at(-1)!)), 'the ones queued behind unsent slices intact');
  });

  t.test(`${scheme}: a huge frame crosses whole in both directions (dialer to acceptor and back)`, async (t) => {
    const opts = scheme === 'tls' ? { security } : {};
    let acceptedComm: Comm | undefined;
    const listener = await listen(`${scheme}://127.0.0.1:0`, (comm) => {
      acceptedComm = comm;
      // Echo: a huge frame goes back the other way.
      comm.onMessage((msg) => comm.write({ op: 'back', data: msg.data, n: msg.n }));
    }, opts);
    t.teardown(() => listener.close());
    const comm = await connect(listener.address, opts);
    t.teardown(async () => {
      await comm.close();
      await acceptedComm?.close();
    });
    const back: OpDict[] = [];
    comm.onMessage((msg) => back.push(msg));
    const huge = randomFillSync(new Uint8Array(48 * 1024 * 1024 + 3));
    comm.write({ op: 'there', n: 0, data: huge });
    comm.write({ op: 'there', n: 1, data: huge.subarray(0, 5) });
    t.ok(await waitFor(() => back.length === 2, 60_000), `both echoes came back (${back.length})`);
    t.same(back.map((m) => m.n), [0, 1], 'in order');
    t.ok(same(back[0]!.data as Uint8Array, huge), '48 MB intact after two crossings');
    t.ok((back[0]!.data as Uint8Array).buffer instanceof SharedArrayBuffer, 'the huge frame landed in shared memory');
  });
}

/** An encoded stream of three messages (one with a large frame) and the offsets to cut it at. */
function streamWithBoundaries(): { stream: Buffer; cuts: number[]; big: Uint8Array } {
  const big = randomFillSync(new Uint8Array(1_100_000));
  const parts = [
    ...encodeBatch([{ op: 'a', text: 'x'.repeat(40) }], { compression: false }),
    ...encodeBatch([{ op: 'b', data: big, tail: 'y' }], { compression: false }),
    ...encodeBatch([{ op: 'c' }], { compression: false }),
  ];
  const stream = Buffer.concat(parts);
  const cuts = new Set<number>();
  let at = 0;
  for (const part of parts) {
    // Every byte of the framing and the small bodies (count, lengths, header); the large frame at its edges and middle.
    if (part.byteLength < 2048) for (let i = 1; i < part.byteLength; i++) cuts.add(at + i);
    for (const d of [-1, 0, 1]) {
      cuts.add(at + d);
      cuts.add(at + part.byteLength + d);
      cuts.add(at + (part.byteLength >> 1) + d);
    }
    at += part.byteLength;
  }
  return { stream, cuts: [...cuts].filter((c) => c > 0 && c < stream.byteLength).sort((a, b) => a - b), big };
}

async function writeNow(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
}

/** Send the stream once per cut, in two writes (the second after the first was read); count the cuts decoded right. */
async function sendAtEveryCut(raw: net.Socket, received: OpDict[], fail: (what: string) => void): Promise<number> {
  const { stream, cuts, big } = streamWithBoundaries();
  raw.setNoDelay(true);
  let ok = 0;
  for (const cut of cuts) {
    const from = received.length;
    await writeNow(raw, stream.subarray(0, cut));
    await delay(1);
    await writeNow(raw, stream.subarray(cut));
    await waitFor(() => received.length >= from + 3, 10_000);
    const got = received.slice(from);
    const right = got.length === 3 && got[0]!.op === 'a' && got[1]!.op === 'b' && got[1]!.tail === 'y' && got[2]!.op === 'c' && same(got[1]!.data as Uint8Array, big);
    if (right) ok++;
    else fail(`cut at ${cut}: got ${got.map((m) => m.op).join(',')}`);
  }
  return ok;
}

for (const scheme of schemes) {
  t.test(`${scheme}: a stream cut at every frame boundary decodes the same into an accepted and a dialed comm`, async (t) => {
    const { cuts } = streamWithBoundaries();
    t.ok(cuts.length > 100, `${cuts.length} cut points`);
    const opts = scheme === 'tls' ? { security } : {};

    // Into an accepted comm (a listener's), from a raw client.
    const intoAccepted: OpDict[] = [];
    const listener = await listen(`${scheme}://127.0.0.1:0`, (comm) => {
      comm.onMessage((msg) => intoAccepted.push(msg));
      t.teardown(() => comm.close());
    }, opts);
    t.teardown(() => listener.close());
    const port = parseTcpAddress(listener.address, scheme).port!;
    const client = scheme === 'tls' ? tls.connect({ host: '127.0.0.1', port, ...security.clientOptions('127.0.0.1') }) : net.connect({ host: '127.0.0.1', port });
    t.teardown(() => client.destroy());
    await once(client, scheme === 'tls' ? 'secureConnect' : 'connect');
    t.equal(await sendAtEveryCut(client, intoAccepted, (what) => t.fail(`accepted: ${what}`)), cuts.length, 'every cut decoded into an accepted comm');

    // Into a dialed comm, from a raw server.
    let resolveServed: (socket: net.Socket) => void = () => undefined;
    const served = new Promise<net.Socket>((resolve) => (resolveServed = resolve));
    const server = scheme === 'tls' ? tls.createServer(security.serverOptions(), resolveServed) : net.createServer(resolveServed);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    const intoDialed: OpDict[] = [];
    const comm = await connect(`${scheme}://127.0.0.1:${(server.address() as net.AddressInfo).port}`, opts);
    t.teardown(() => comm.close());
    comm.onMessage((msg) => intoDialed.push(msg));
    const socket = await served;
    t.teardown(() => socket.destroy());
    t.equal(await sendAtEveryCut(socket, intoDialed, (what) => t.fail(`dialed: ${what}`)), cuts.length, 'every cut decoded into a dialed comm');
  });
}

t.test('tls: garbage after a good handshake closes that comm with a ProtocolError; another comm keeps working', async (t) => {
  const comms: Comm[] = [];
  const listener = await listen('tls://127.0.0.1:0', (comm) => {
    comms.push(comm);
    comm.onMessage((msg) => comm.write({ op: 'echo', n: msg.n }));
  }, { security });
  t.teardown(async () => {
    await listener.close();
    for (const comm of comms) await comm.close();
  });
  const good = await connect(listener.address, { security });
  t.teardown(() => good.close());
  const echoes: OpDict[] = [];
  good.onMessage((msg) => echoes.push(msg));

  const port = parseTcpAddress(listener.address, 'tls').port!;
  const cases: [string, Buffer][] = [
    ['random junk', randomFillSync(Buffer.alloc(64 * 1024))],
    ['a frame count of zero', Buffer.alloc(16)],
    ['a 2 GiB frame, over the limit', Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0])],
  ];
  for (const [index, [name, bytes]] of cases.entries()) {
    const before = comms.length;
    const raw = tls.connect({ host: '127.0.0.1', port, ...security.clientOptions('127.0.0.1') });
    raw.on('error', () => undefined);
    await once(raw, 'secureConnect');
    t.ok(await waitFor(() => comms.length === before + 1), `${name}: accepted after the handshake`);
    const victim = comms.at(-1)!;
    const reason = new Promise<Error | undefined>((resolve) => victim.onClose(resolve));
    raw.write(bytes);
    t.match((await reason)?.name, /^(ProtocolError|MessageTooLargeError)$/, `${name}: closed with a typed error`);
    raw.destroy();
    good.write({ op: 'ping', n: echoes.length });
    t.ok(await waitFor(() => echoes.length === index + 1), `${name}: the good comm still answers`);
  }
});
