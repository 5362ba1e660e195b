import t from 'tap';
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MailboxActor, type Handler, type Peer } from '../dist/lib/comm/mailbox.js';
import { connect, listen } from '../dist/lib/comm/registry.js';
import { RpcChannel } from '../dist/lib/comm/rpc.js';
import { isSameHost, parseTcpAddress } from '../dist/lib/comm/tcp.js';
import { CommClosedError, ConnectError, MessageTooLargeError, ProtocolError, TimeoutError } from '../dist/lib/errors.js';
import { encodeBatch, WireDecoder } from '../dist/lib/protocol/wire.js';
import type { Comm } from '../dist/lib/comm/comm.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

class EchoServer extends MailboxActor {
  closed: { peer: Peer; reason?: Error }[] = [];
  protected readonly handlers: Record<string, Handler> = {
    echo: (msg) => msg.value,
    never: () => new Promise(() => undefined),
  };
  protected override onPeerClosed(peer: Peer, reason?: Error): void {
    this.closed.push({ peer, reason });
  }
}

class Caller extends MailboxActor {
  protected readonly handlers: Record<string, Handler> = {};
}

async function waitFor(condition: () => boolean, ms = 2000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await delay(5);
  }
  return true;
}

async function echoServer(t: { teardown: (fn: () => unknown) => void }, maxMessageBytes?: number) {
  const server = new EchoServer('tcp-echo');
  const listener = await server.listen('tcp://127.0.0.1:0', maxMessageBytes === undefined ? {} : { maxMessageBytes });
  const client = new Caller('tcp-client');
  const peer = await client.connect(listener.address);
  t.teardown(async () => {
    await client.close();
    await server.close();
  });
  const { port } = parseTcpAddress(listener.address);
  return { server, listener, client, peer, port: port! };
}

function rawSocket(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  return once(socket, 'connect').then(() => socket);
}

t.test('addresses', async (t) => {
  t.same(parseTcpAddress('tcp://10.0.0.1:8786'), { host: '10.0.0.1', port: 8786 });
  t.same(parseTcpAddress('tcp://:8786'), { host: '127.0.0.1', port: 8786 });
  t.same(parseTcpAddress('tcp://'), { host: '127.0.0.1', port: undefined });
  t.same(parseTcpAddress('tcp://[::1]:9'), { host: '::1', port: 9 });
  t.same(parseTcpAddress('tcp://my-host.example'), { host: 'my-host.example', port: undefined });
  t.throws(() => parseTcpAddress('tcp://host:99999'), TypeError);
  t.throws(() => parseTcpAddress('tcp://host:port'), TypeError);
  t.throws(() => parseTcpAddress('inproc://x'), TypeError);
  await t.rejects(connect('tcp://127.0.0.1'), { name: 'TypeError', message: /needs a port/ });

  const listener = await listen('tcp://127.0.0.1:0', () => undefined);
  t.teardown(() => listener.close());
  t.match(listener.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.not(parseTcpAddress(listener.address).port, 0, 'port 0 reports the real port');
});

t.test('a large binary crosses intact, and concurrent writes keep their order', async (t) => {
  const { peer } = await echoServer(t);
  const big = randomFillSync(new Uint8Array(8 * 1024 * 1024));
  const back = await peer.call<Uint8Array>({ op: 'echo', value: { big, tag: 'x' } });
  t.equal(Buffer.compare(Buffer.from((back as unknown as { big: Uint8Array }).big), Buffer.from(big)), 0, 'bytes intact');

  const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    peer.call<Uint8Array>({ op: 'echo', value: big.subarray(i * 1000, i * 1000 + 100_000) })));
  t.ok(replies.every((r, i) => r.byteLength === 100_000 && r[0] === big[i * 1000] && r[99_999] === big[i * 1000 + 99_999]));
});

t.test('a peer on this host gets frames uncompressed; a large one lands in shared memory', async (t) => {
  t.ok(isSameHost('127.0.0.1', '127.0.0.1') && isSameHost('::1', '::1') && isSameHost('::ffff:127.0.0.5', '::ffff:127.0.0.1'));
  t.ok(isSameHost('10.1.2.3', '10.1.2.3'), 'our own address');
  t.notOk(isSameHost('10.1.2.4', '10.1.2.3') || isSameHost(undefined, '127.0.0.1'), 'another machine');
  const { peer } = await echoServer(t);
  // Compresses ~100x: had it been lz4-compressed, the decompressed copy would be an ordinary Buffer.
  const sparse = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < sparse.byteLength; i += 4096) sparse[i] = i & 255;
  const back = await peer.call<Uint8Array>({ op: 'echo', value: sparse });
  t.ok(back.buffer instanceof SharedArrayBuffer, 'received raw, straight into shared memory');
  t.equal(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(sparse)), 0, 'bytes intact');
});

/** Write `bytes` to `socket` in odd-sized pieces, each flushed (and sometimes left alone a moment) before the next. */
async function writeInOddPieces(socket: net.Socket, bytes: Uint8Array): Promise<number> {
  socket.setNoDelay(true);
  const sizes = [1, 7, 4099, 65_521, 300_007, 1_048_573, 3];
  let pieces = 0;
  for (let at = 0; at < bytes.byteLength; pieces++) {
    const size = Math.min(sizes[pieces % sizes.length]!, bytes.byteLength - at);
    await new Promise<void>((resolve, reject) => socket.write(bytes.subarray(at, at + size), (error) => (error ? reject(error) : resolve())));
    at += size;
    if (pieces % 5 === 0) await delay(1);
  }
  return pieces;
}

t.test('a large frame arrives intact over a real socket when delivered in odd-sized chunks', async (t) => {
  const big = randomFillSync(new Uint8Array(6 * 1024 * 1024 + 4321));
  const stream = Buffer.concat([...encodeBatch([{ op: 'big', data: big }]), ...encodeBatch([{ op: 'after', n: 1 }])]);
  const check = (received: OpDict[], side: string): void => {
    t.same(received.map((m) => m.op), ['big', 'after'], `${side}: both messages, in order`);
    t.equal(Buffer.compare(Buffer.from(received[0]!.data as Uint8Array), Buffer.from(big)), 0, `${side}: bytes intact`);
  };

  // Into an accepted connection (a listener's comm).
  const accepted: OpDict[] = [];
  const listener = await listen('tcp://127.0.0.1:0', (comm) => comm.onMessage((m) => accepted.push(m)));
  t.teardown(() => listener.close());
  const raw = await rawSocket(parseTcpAddress(listener.address).port!);
  t.teardown(() => raw.destroy());
  t.ok((await writeInOddPieces(raw, stream)) > 20, 'many pieces');
  t.ok(await waitFor(() => accepted.length === 2, 10_000));
  check(accepted, 'accepted');

  // Into a dialed connection.
  const server = net.createServer((socket) => void writeInOddPieces(socket, stream).catch(() => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const dialed: OpDict[] = [];
  const comm = await connect(`tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  t.teardown(() => comm.close());
  comm.onMessage((m) => dialed.push(m));
  t.ok(await waitFor(() => dialed.length === 2, 10_000));
  check(dialed, 'dialed');
});

t.test('messages written in one tick are coalesced into few writes', async (t) => {
  const chunks: number[] = [];
  const server = net.createServer((socket) => socket.on('data', (c) => chunks.push(c.length)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const comm = await connect(`tcp://127.0.0.1:${port}`);
  t.teardown(async () => {
    await comm.close();
    server.close();
  });
  for (let i = 0; i < 1000; i++) comm.write({ op: 'tick', i });
  await waitFor(() => chunks.length > 0);
  await delay(50);
  t.ok(chunks.length <= 5, `1000 messages arrived in ${chunks.length} chunk(s)`);
});

t.test('backpressure: a reader that stalls gets everything, in order', async (t) => {
  const received: OpDict[] = [];
  const decoder = new WireDecoder();
  let serverSocket: net.Socket | undefined;
  const server = net.createServer((socket) => {
    serverSocket = socket;
    socket.pause(); // not reading: the writer's socket buffer fills up
    socket.on('data', (chunk) => received.push(...decoder.push(chunk)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const comm = await connect(`tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  t.teardown(async () => {
    await comm.close();
    server.close();
  });
  const blob = randomFillSync(new Uint8Array(256 * 1024));
  for (let i = 0; i < 200; i++) {
    comm.write({ op: 'chunk', i, blob });
    if (i % 20 === 0) await delay(0);
  }
  await delay(100);
  t.equal(received.length, 0, 'nothing read while the reader stalls');
  serverSocket!.resume();
  t.ok(await waitFor(() => received.length === 200, 10_000), `received ${received.length}/200`);
  t.ok(received.every((m, i) => m.i === i && Buffer.compare(m.blob as Uint8Array, blob) === 0), 'in order and intact');
});

t.test('bad bytes close only that connection; another client keeps working', async (t) => {
  const { server, peer, port } = await echoServer(t);
  t.equal(await peer.call({ op: 'echo', value: 'before' }), 'before');

  const cases: { name: string; bytes?: Buffer; hangUp: boolean; reason?: new (...a: never[]) => Error }[] = [
    { name: 'random junk', bytes: randomFillSync(Buffer.alloc(4096)), hangUp: false, reason: ProtocolError },
    { name: 'absurd length header', bytes: Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]), hangUp: false, reason: MessageTooLargeError },
    { name: 'nothing, then hang up', hangUp: true },
    { name: 'half a message, then hang up', bytes: Buffer.from(encodeBatch([{ op: 'echo', value: 'x'.repeat(500) }])[0]!).subarray(0, 40), hangUp: true },
  ];
  for (const c of cases) {
    const before = server.closed.length;
    const socket = await rawSocket(port);
    const socketClosed = once(socket, 'close');
    if (c.bytes !== undefined) socket.write(c.bytes);
    if (c.hangUp) socket.end();
    t.ok(await waitFor(() => server.closed.length > before), `${c.name}: server dropped the connection`);
    if (c.reason !== undefined) {
      await socketClosed;
      t.type(server.closed.at(-1)!.reason, c.reason, `${c.name}: closed with ${c.reason.name}`);
    }
    t.equal(await peer.call({ op: 'echo', value: c.name }), c.name, `${c.name}: the other client is unaffected`);
  }

  // A client that connects and stalls mid-message must not hold anyone up.
  const staller = await rawSocket(port);
  staller.write(Buffer.from(encodeBatch([{ op: 'echo', value: 'y'.repeat(500) }])[0]!).subarray(0, 30));
  t.equal(await peer.call({ op: 'echo', value: 'despite staller' }), 'despite staller');
  staller.destroy();
});

t.test('a listener limit refuses oversized messages on that connection only', async (t) => {
  const { server, peer, listener } = await echoServer(t, 64 * 1024);
  const other = new Caller('other');
  t.teardown(() => other.close());
  const victim = await other.connect(listener.address);
  const error = await victim.call({ op: 'echo', value: new Uint8Array(200 * 1024) }).catch((e: unknown) => e);
  t.type(error, CommClosedError, 'the oversized sender loses its connection');
  t.ok(await waitFor(() => server.closed.some((c) => c.reason instanceof MessageTooLargeError)));
  t.equal(await peer.call({ op: 'echo', value: 'small' }), 'small');
});

t.test('connecting to a closed port fails fast with ConnectError', async (t) => {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const started = performance.now();
  const error = await connect(`tcp://127.0.0.1:${port}`).catch((e: unknown) => e);
  t.type(error, ConnectError);
  t.match((error as Error).message, `tcp://127.0.0.1:${port}`);
  t.ok(performance.now() - started < 1000, 'fast');
});

t.test('a server that accepts but never answers: timeout, then CommClosedError when it hangs up', async (t) => {
  const sockets: net.Socket[] = [];
  const mute = net.createServer((socket) => sockets.push(socket));
  mute.listen(0, '127.0.0.1');
  await once(mute, 'listening');
  t.teardown(() => mute.close());
  const comm: Comm = await connect(`tcp://127.0.0.1:${(mute.address() as net.AddressInfo).port}`);
  const rpc = new RpcChannel(comm);
  const started = performance.now();
  const error = await rpc.call({ op: 'anything' }, { timeout: 250 }).catch((e: unknown) => e);
  const elapsed = performance.now() - started;
  t.type(error, TimeoutError);
  t.ok(elapsed >= 240 && elapsed < 2500, `timed out after ${elapsed.toFixed(0)} ms`);

  const pending = rpc.call({ op: 'waiting' }).catch((e: unknown) => e);
  await waitFor(() => sockets.length === 1);
  sockets[0]!.destroy();
  t.type(await pending, CommClosedError);
  t.equal(rpc.pendingCalls, 0);
});

t.test('a peer process that dies rejects outstanding calls promptly', async (t) => {
  const dist = fileURLToPath(new URL('../dist/', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
      import { MailboxActor } from '${dist}lib/comm/mailbox.js';
      class S extends MailboxActor { handlers = { never: () => new Promise(() => {}), pid: () => process.pid }; }
      const s = new S('doomed');
      const l = await s.listen('tcp://127.0.0.1:0');
      process.send(l.address);
    `], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  const [address] = (await once(child, 'message')) as [string];
  const client = new Caller('survivor');
  t.teardown(() => client.close());
  const peer = await client.connect(address);
  t.equal(await peer.call({ op: 'pid' }), child.pid);
  const pending = peer.call({ op: 'never' }).catch((e: unknown) => e);
  await delay(20);
  const started = performance.now();
  child.kill('SIGKILL');
  const error = await pending;
  t.type(error, CommClosedError);
  t.ok(performance.now() - started < 1000, 'promptly');
});

t.test('closing flushes queued messages first and fires onClose on both ends', async (t) => {
  const received: OpDict[] = [];
  const reasons: (Error | undefined)[] = [];
  const listener = await listen('tcp://127.0.0.1:0', (comm) => {
    comm.onMessage((m) => received.push(m));
    comm.onClose((reason) => reasons.push(reason));
  });
  t.teardown(() => listener.close());
  const comm = await connect(listener.address);
  let localReason: Error | undefined | 'unset' = 'unset';
  comm.onClose((reason) => { localReason = reason; });
  for (let i = 0; i < 100; i++) comm.write({ op: 'last', i });
  await comm.close();
  t.equal(comm.closed, true);
  comm.write({ op: 'ignored' });
  t.ok(await waitFor(() => reasons.length === 1));
  t.equal(received.length, 100, 'everything written before close() arrived');
  t.type(reasons[0], CommClosedError, 'the remote side learns the peer closed');
  t.equal(localReason, undefined, 'a local close has no reason');
});

t.test('contactHost: a wildcard bind advertises an external address, anything else itself', async (t) => {
  const { contactHost, isWildcardHost } = await import('../dist/lib/comm/contact-host.js');
  const info = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
    ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as never;
  const machine = {
    lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)],
    eth0: [info('fe80::1', 'IPv6'), info('fd00::2', 'IPv6'), info('10.1.2.3', 'IPv4')],
  };
  t.equal(contactHost('0.0.0.0', machine), '10.1.2.3');
  t.equal(contactHost('::', machine), '10.1.2.3', 'a dual-stack socket is reachable over IPv4 too');
  t.equal(contactHost('::', { eth0: [info('fe80::1', 'IPv6'), info('fd00::2', 'IPv6')] }), 'fd00::2', 'never a link-local address');
  t.equal(contactHost('0.0.0.0', { lo: machine.lo }), '127.0.0.1', 'loopback when there is nothing else');
  t.equal(contactHost('::', { lo: machine.lo }), '::1');
  t.equal(contactHost('192.168.0.9', machine), '192.168.0.9');
  t.equal(contactHost('localhost', machine), 'localhost');
  t.ok(isWildcardHost('0.0.0.0') && isWildcardHost('::') && !isWildcardHost('127.0.0.1'));
});

t.test('a listener on 0.0.0.0 reports a dialable address and accepts on it', async (t) => {
  let accept: (comm: Comm) => void = () => undefined;
  const accepted = new Promise<Comm>((resolve) => (accept = resolve));
  const listener = await listen('tcp://0.0.0.0:0', (comm) => accept(comm));
  t.teardown(() => listener.close());
  t.notMatch(listener.address, /0\.0\.0\.0/);
  const comm = await connect(listener.address);
  t.teardown(() => comm.close());
  const server = await accepted;
  t.teardown(() => server.close());
  t.ok(server.peerAddress.startsWith('tcp://'), 'the advertised address reaches the listener');
});

t.test("TcpComm on 'data' events (the fallback when an accepted socket cannot be rebuilt with onread)", async (t) => {
  const { TcpComm } = await import('../dist/lib/comm/tcp.js');
  let accept: (comm: Comm) => void = () => undefined;
  const accepted = new Promise<Comm>((resolve) => (accept = resolve));
  const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => accept(new TcpComm(socket, { maxMessageBytes: 4_000_000 })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const client = await connect(`tcp://127.0.0.1:${port}`);
  t.teardown(() => client.close());
  const serverSide = await accepted;
  t.teardown(() => serverSide.close());

  const received: OpDict[] = [];
  const echoed: OpDict[] = [];
  serverSide.onMessage((msg) => {
    received.push(msg);
    serverSide.write({ op: 'echo', n: msg.n });
  });
  client.onMessage((msg) => echoed.push(msg));
  const big = new Uint8Array(1_000_000).map((_, i) => i % 253);
  for (let n = 0; n < 200; n++) client.write({ op: 'small', n });
  client.write({ op: 'big', n: 200, data: big });
  const deadline = Date.now() + 10_000;
  while (echoed.length < 201 && Date.now() < deadline) await delay(10);
  t.equal(received.length, 201, 'every message arrived, split across data events as they came');
  t.same(received.slice(0, 200).map((m) => m.n), Array.from({ length: 200 }, (_, i) => i), 'in order');
  t.same(Buffer.from(received[200]!.data as Uint8Array), Buffer.from(big), 'a 1 MB out-of-band frame arrives whole');
  t.equal(echoed.length, 201, 'and the answers came back');

  // Bad bytes on a fallback comm close it with a ProtocolError, as on the direct path.
  let goodClosed = false;
  serverSide.onClose(() => (goodClosed = true));
  const raw = net.connect(port, '127.0.0.1');
  t.teardown(() => raw.destroy());
  const second = new Promise<Comm>((resolve) => (accept = resolve));
  await once(raw, 'connect');
  const victim = await second;
  let victimReason: Error | undefined;
  const victimClosed = new Promise<void>((resolve) => victim.onClose((reason) => { victimReason = reason; resolve(); }));
  victim.onMessage(() => t.fail('garbage must not decode into a message'));
  raw.write(Buffer.alloc(64, 0xff));
  await victimClosed;
  t.equal(victimReason?.name, 'ProtocolError');
  t.equal(goodClosed, false, 'the good connection was not affected');
});
