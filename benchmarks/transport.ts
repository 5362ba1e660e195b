/**
 * Transport throughput and latency, each beside the bare Node building block
 * it sits on, measured in the same run:
 * - one large binary inside an op-dict over TCP loopback vs a bare net socket
 *   pushing the same bytes (target: at least 70% of bare);
 * - the same over inproc vs a bare MessagePort transferring the bytes back and forth;
 * - small-message RPC round trips (mailbox actors) over inproc and TCP vs bare
 *   ping-pong on a MessagePort / net socket.
 *
 * Runnable alone: `node dist/benchmarks/transport.js [--quick]`.
 */
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { MailboxActor, type Handler } from '../lib/comm/mailbox.js';
import type { Comm } from '../lib/comm/comm.js';
import { connect, listen } from '../lib/comm/registry.js';
import type { OpDict } from '../lib/protocol/messages.js';
import { printTable, type BenchRow } from './report.js';

const MB = 1_000_000;

function bestOf(times: number[]): number {
  return Math.min(...times);
}

/** Random bytes: incompressible, so the wire's lz4 stage cannot flatter the figure. */
function payload(bytes: number): Uint8Array {
  return randomFillSync(new Uint8Array(bytes));
}

/* ------------------------------------------------------------------ */
/* Large binaries                                                       */
/* ------------------------------------------------------------------ */

/** ms per (op-dict carrying `data`, small ack back) over comms dialed at `listenAddress`. */
async function commBinaryRoundTrip(listenAddress: string, data: Uint8Array, rounds: number): Promise<number> {
  let server: Comm | undefined;
  const listener = await listen(listenAddress, (comm) => {
    server = comm;
    comm.onMessage((msg) => {
      const bytes = msg.data as Uint8Array;
      comm.write({ op: 'ack', n: bytes.byteLength, last: bytes[bytes.byteLength - 1] });
    });
  });
  const client = await connect(listener.address);
  let acked: (msg: OpDict) => void = () => undefined;
  client.onMessage((msg) => acked(msg));
  try {
    const times: number[] = [];
    for (let i = 0; i < rounds + 1; i++) {
      const t0 = performance.now();
      const ack = new Promise<OpDict>((resolve) => (acked = resolve));
      client.write({ op: 'data', data });
      const reply = await ack;
      if (reply.n !== data.byteLength || reply.last !== data[data.byteLength - 1]) throw new Error('binary arrived damaged');
      if (i > 0) times.push(performance.now() - t0); // the first round is warm-up (and inproc's one-time share)
    }
    return bestOf(times);
  } finally {
    await client.close();
    await server?.close();
    await listener.close();
  }
}

/** ms per (same bytes in one write on a bare net socket, 1-byte ack back). */
async function bareTcpBinaryRoundTrip(data: Uint8Array, rounds: number): Promise<number> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= data.byteLength) {
        received -= data.byteLength;
        socket.write(Buffer.of(1));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = netConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, noDelay: true });
  await once(client, 'connect');
  let acked: () => void = () => undefined;
  client.on('data', () => acked());
  try {
    const times: number[] = [];
    for (let i = 0; i < rounds + 1; i++) {
      const t0 = performance.now();
      const ack = new Promise<void>((resolve) => (acked = resolve));
      client.write(data);
      await ack;
      if (i > 0) times.push(performance.now() - t0);
    }
    return bestOf(times);
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** ms per (bytes transferred over a bare MessagePort, transferred back as the ack). */
async function bareMessagePortBinaryRoundTrip(bytes: number, rounds: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  port2.on('message', (msg: { data: Uint8Array }) => port2.postMessage(msg, [msg.data.buffer as ArrayBuffer]));
  let data = payload(bytes);
  let acked: () => void = () => undefined;
  port1.on('message', (msg: { data: Uint8Array }) => {
    data = msg.data;
    acked();
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < rounds + 1; i++) {
      const t0 = performance.now();
      const ack = new Promise<void>((resolve) => (acked = resolve));
      port1.postMessage({ op: 'data', data }, [data.buffer as ArrayBuffer]);
      await ack;
      if (i > 0) times.push(performance.now() - t0);
    }
    return bestOf(times);
  } finally {
    port1.close();
  }
}

/* ------------------------------------------------------------------ */
/* Small-message RPC                                                    */
/* ------------------------------------------------------------------ */

class EchoActor extends MailboxActor {
  protected readonly handlers: Record<string, Handler> = { echo: (msg) => msg.value };
}

class CallerActor extends MailboxActor {
  protected readonly handlers: Record<string, Handler> = {};
}

/** Sequential mailbox RPC round trips per second. */
async function actorRpcRate(listenAddress: string, calls: number): Promise<number> {
  const server = new EchoActor('bench-echo');
  const client = new CallerActor('bench-caller');
  try {
    const listener = await server.listen(listenAddress);
    const peer = await client.connect(listener.address);
    const value = { key: 'x-1', n: 1 };
    const drive = async (n: number): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await peer.call({ op: 'echo', value });
      return performance.now() - t0;
    };
    await drive(Math.min(calls, 2000));
    return calls / (bestOf([await drive(calls), await drive(calls)]) / 1000);
  } finally {
    await client.close();
    await server.close();
  }
}

/** Bare same-thread MessagePort ping-pong of a small object: round trips per second. */
async function bareMessagePortRate(calls: number): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  port2.on('message', (msg: unknown) => port2.postMessage(msg));
  let replied: () => void = () => undefined;
  port1.on('message', () => replied());
  const message = { op: 'echo', id: 1, value: { key: 'x-1', n: 1 } };
  const drive = async (n: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const reply = new Promise<void>((resolve) => (replied = resolve));
      port1.postMessage(message);
      await reply;
    }
    return performance.now() - t0;
  };
  try {
    await drive(Math.min(calls, 2000));
    return calls / (bestOf([await drive(calls), await drive(calls)]) / 1000);
  } finally {
    port1.close();
  }
}

/** Bare net socket ping-pong of a small message: round trips per second. */
async function bareTcpRate(calls: number): Promise<number> {
  const server = createServer((socket: Socket) => {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => socket.write(chunk));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = netConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, noDelay: true });
  await once(client, 'connect');
  const message = Buffer.alloc(48, 0x5a);
  let received = 0;
  let expected = 0;
  let replied: () => void = () => undefined;
  client.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received >= expected) replied();
  });
  const drive = async (n: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      expected = received + message.length;
      const reply = new Promise<void>((resolve) => (replied = resolve));
      client.write(message);
      await reply;
    }
    return performance.now() - t0;
  };
  try {
    await drive(Math.min(calls, 2000));
    return calls / (bestOf([await drive(calls), await drive(calls)]) / 1000);
  } finally {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/* ------------------------------------------------------------------ */

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const bytes = (opts.quick ? 20 : 100) * MB;
  const rounds = opts.quick ? 3 : 5;
  const calls = opts.quick ? 5_000 : 20_000;
  const data = payload(bytes);
  const megabytes = bytes / MB;
  const label = `${megabytes} MB binary in an op-dict`;
  const rows: BenchRow[] = [];

  const tcpOurs = await commBinaryRoundTrip('tcp://127.0.0.1:0', data, rounds);
  const tcpBare = await bareTcpBinaryRoundTrip(data, rounds);
  rows.push({
    group: 'transport', workload: `${label}, tcp loopback`,
    ours: megabytes / (tcpOurs / 1000), baseline: megabytes / (tcpBare / 1000), baselineName: 'bare net socket',
    unit: 'MB/s', higherIsBetter: true, target: '≥ 70% of bare',
  });

  const inprocOurs = await commBinaryRoundTrip('inproc://', data, rounds);
  const inprocBare = await bareMessagePortBinaryRoundTrip(bytes, rounds);
  rows.push({
    group: 'transport', workload: `${label}, inproc (shared, uncopied)`,
    ours: megabytes / (inprocOurs / 1000), baseline: megabytes / (inprocBare / 1000), baselineName: 'bare MessagePort, transfer',
    unit: 'MB/s', higherIsBetter: true,
  });

  rows.push({
    group: 'transport', workload: 'small RPC round trips, inproc mailbox actors',
    ours: await actorRpcRate('inproc://', calls), baseline: await bareMessagePortRate(calls),
    baselineName: 'bare MessagePort ping-pong', unit: 'round trips/s', higherIsBetter: true,
  });
  rows.push({
    group: 'transport', workload: 'small RPC round trips, tcp mailbox actors',
    ours: await actorRpcRate('tcp://127.0.0.1:0', calls), baseline: await bareTcpRate(calls),
    baselineName: 'bare net socket ping-pong', unit: 'round trips/s', higherIsBetter: true,
  });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  printTable(await run({ quick: process.argv.includes('--quick') }));
}
