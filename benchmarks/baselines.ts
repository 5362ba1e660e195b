/**
 * Raw building blocks measured in the same run as our benchmarks, so every
 * "ours vs baseline" ratio compares figures taken on the same machine, at the
 * same moment. Each function sets up, warms up, measures and tears down.
 */
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { Packr } from 'msgpackr';
import { Piscina } from 'piscina';
import type { BenchRow } from './report.js';

const NOOP_THREAD = fileURLToPath(new URL('./noop-thread.js', import.meta.url));

export type Atomics = 'sync' | 'async' | 'disabled';

export interface PoolOptions {
  /** Threads in the pool (minThreads = maxThreads). Default 2. */
  threads?: number;
  /** piscina's idle-wait mode. Default 'sync' (piscina's own default). */
  atomics?: Atomics;
}

function noopPool({ threads = 2, atomics = 'sync' }: PoolOptions): Piscina {
  return new Piscina({ filename: NOOP_THREAD, minThreads: threads, maxThreads: threads, idleTimeout: Infinity, atomics });
}

/** Runs `total` tasks keeping `inFlight` outstanding; returns elapsed ms. */
async function drivePool(pool: Piscina, total: number, inFlight: number): Promise<number> {
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < total) {
      started++;
      await pool.run(started);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, lane));
  return performance.now() - t0;
}

/** Bare piscina pool with a noop handler: tasks/s with `inFlight` tasks outstanding. */
export async function piscinaThroughput(opts: { tasks: number; inFlight: number } & PoolOptions): Promise<number> {
  const pool = noopPool(opts);
  try {
    await drivePool(pool, Math.min(opts.tasks, 2000), opts.inFlight);
    const ms = await drivePool(pool, opts.tasks, opts.inFlight);
    return opts.tasks / (ms / 1000);
  } finally {
    await pool.destroy();
  }
}

/** Seconds from creating a bare piscina pool to the result of its first task (the pool is then destroyed). */
export async function piscinaFirstResultSeconds(opts: PoolOptions = {}): Promise<number> {
  const t0 = performance.now();
  const pool = noopPool(opts);
  try {
    await pool.run(1);
    return (performance.now() - t0) / 1000;
  } finally {
    await pool.destroy();
  }
}

/** Bare piscina pool with a noop handler: µs per `await pool.run()` with one task in flight. */
export async function piscinaRoundTripMicros(opts: { tasks: number } & PoolOptions): Promise<number> {
  const pool = noopPool(opts);
  try {
    await drivePool(pool, Math.min(opts.tasks, 500), 1);
    const ms = await drivePool(pool, opts.tasks, 1);
    return (ms * 1000) / opts.tasks;
  } finally {
    await pool.destroy();
  }
}

interface EchoPort {
  send(message: unknown): void;
  /** Replaces the single reply handler (no per-call listeners). */
  onReply(handler: () => void): void;
}

/** A worker thread echoing every message on a transferred MessagePort. */
async function withEchoPort<T>(body: (echo: EchoPort) => Promise<T>): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(NOOP_THREAD, { workerData: { mode: 'echo', port: port2 }, transferList: [port2] });
  let handler: () => void = () => {};
  port1.on('message', () => handler());
  try {
    return await body({ send: (message) => port1.postMessage(message), onReply: (fn) => (handler = fn) });
  } finally {
    port1.close();
    await worker.terminate();
  }
}

/** Bare MessagePort to a worker thread: µs per round trip of a small object, one in flight. */
export async function messagePortRoundTripMicros(opts: { messages: number }): Promise<number> {
  return withEchoPort(async (echo) => {
    const pingPong = async (n: number): Promise<number> => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const replied = new Promise<void>((resolve) => echo.onReply(resolve));
        echo.send({ op: 'ping', i });
        await replied;
      }
      return performance.now() - t0;
    };
    await pingPong(Math.min(opts.messages, 1000));
    const ms = await pingPong(opts.messages);
    return (ms * 1000) / opts.messages;
  });
}

/** Bare MessagePort to a worker thread: echoed messages/s with `window` outstanding (default 256). */
export async function messagePortPipelinedRate(opts: { messages: number; window?: number }): Promise<number> {
  const window = opts.window ?? 256;
  return withEchoPort(async (echo) => {
    const burst = (n: number): Promise<number> =>
      new Promise<number>((resolve) => {
        let sent = 0;
        let received = 0;
        const t0 = performance.now();
        echo.onReply(() => {
          received++;
          if (sent < n) echo.send({ op: 'ping', i: sent++ });
          if (received === n) resolve(performance.now() - t0);
        });
        while (sent < Math.min(window, n)) echo.send({ op: 'ping', i: sent++ });
      });
    await burst(Math.min(opts.messages, 5000));
    const ms = await burst(opts.messages);
    return opts.messages / (ms / 1000);
  });
}

async function loopbackPair(onServerSocket: (socket: Socket) => void): Promise<{ server: Server; client: Socket }> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    onServerSocket(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const client = connect({ host: '127.0.0.1', port, noDelay: true });
  await once(client, 'connect');
  return { server, client };
}

async function closePair({ server, client }: { server: Server; client: Socket }): Promise<void> {
  client.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Bare TCP loopback, both ends in this process: MB/s (10^6 bytes) to push
 * `megabytes` through one connection in `chunkBytes` writes (default 1 MiB).
 */
export async function tcpLoopbackMBps(opts: { megabytes: number; chunkBytes?: number }): Promise<number> {
  const total = Math.round(opts.megabytes * 1_000_000);
  const chunk = Buffer.alloc(opts.chunkBytes ?? 1 << 20, 0x5a);
  let received = 0;
  let target = 0;
  let done: () => void = () => {};
  const pair = await loopbackPair((socket) =>
    socket.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= target) done();
    }),
  );
  const push = async (bytes: number): Promise<number> => {
    target = received + bytes;
    const arrived = new Promise<void>((resolve) => (done = resolve));
    const t0 = performance.now();
    for (let left = bytes; left > 0; left -= chunk.length) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      if (!pair.client.write(piece)) await once(pair.client, 'drain');
    }
    await arrived;
    return performance.now() - t0;
  };
  try {
    await push(Math.min(total, 16_000_000));
    const ms = await push(total);
    return total / 1_000_000 / (ms / 1000);
  } finally {
    await closePair(pair);
  }
}

/** Bare TCP loopback, both ends in this process: µs per round trip of a `bytes`-long message (default 32). */
export async function tcpRoundTripMicros(opts: { messages: number; bytes?: number }): Promise<number> {
  const message = Buffer.alloc(opts.bytes ?? 32, 0x5a);
  let received = 0;
  let expect = 0;
  let done: () => void = () => {};
  const pair = await loopbackPair((socket) => socket.on('data', (data: Buffer) => socket.write(data)));
  pair.client.on('data', (data: Buffer) => {
    received += data.length;
    if (received >= expect) done();
  });
  const pingPong = async (n: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      expect = received + message.length;
      const replied = new Promise<void>((resolve) => (done = resolve));
      pair.client.write(message);
      await replied;
    }
    return performance.now() - t0;
  };
  try {
    await pingPong(Math.min(opts.messages, 1000));
    const ms = await pingPong(opts.messages);
    return (ms * 1000) / opts.messages;
  } finally {
    await closePair(pair);
  }
}

/** Bare msgpackr: pack + unpack round trips of `value` per second (default Packr options unless given). */
export async function msgpackrRoundTripRate(value: unknown, opts: { iterations: number; packr?: Packr }): Promise<number> {
  const packr = opts.packr ?? new Packr();
  let sink = 0;
  const loop = (n: number): number => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const decoded: unknown = packr.unpack(packr.pack(value));
      if (decoded !== undefined) sink++;
    }
    return performance.now() - t0;
  };
  loop(Math.min(opts.iterations, 10_000));
  const ms = loop(opts.iterations);
  if (sink === 0) throw new Error('msgpackr round trip produced nothing');
  return opts.iterations / (ms / 1000);
}

/** A representative small op-dict (a `task-finished`), ~150 bytes packed. */
export const SMALL_MESSAGE = {
  op: 'task-finished',
  key: 'inc-0f1e2d3c4b5a69788796a5b4c3d2e1f0',
  run_id: 12,
  nbytes: 8,
  type: 'number',
  startstops: [{ action: 'compute', start: 1_712_345_678.123, stop: 1_712_345_678.125 }],
} as const;

/** Figures from research notes §3 (2 vCPU, Node 20.20.2), used to calibrate this machine. */
const RESEARCH = 'research §3';

/**
 * The raw building blocks against the figures measured when the project was
 * planned: a quick check that this machine and run are comparable (ratios far
 * from 100%/1.00× mean every other ratio in the table deserves suspicion).
 */
export async function calibrationRows(quick: boolean): Promise<BenchRow[]> {
  const n = (full: number, small: number): number => (quick ? small : full);
  const group = 'calibration';
  const packedBytes = new Packr().pack(SMALL_MESSAGE).length;
  return [
    {
      group,
      workload: 'bare piscina, 2 threads, 256 in flight',
      ours: await piscinaThroughput({ tasks: n(40_000, 5_000), inFlight: 256 }),
      baseline: 27_000,
      baselineName: `${RESEARCH}, atomics sync`,
      unit: 'tasks/s',
      higherIsBetter: true,
    },
    {
      group,
      workload: 'bare piscina, sequential round trip',
      ours: await piscinaRoundTripMicros({ tasks: n(10_000, 1_000) }),
      baseline: 90,
      baselineName: `${RESEARCH}, 1 thread`,
      unit: 'µs',
      higherIsBetter: false,
    },
    {
      group,
      workload: 'bare MessagePort round trip, small object',
      ours: await messagePortRoundTripMicros({ messages: n(20_000, 2_000) }),
      baseline: 15.6,
      baselineName: RESEARCH,
      unit: 'µs',
      higherIsBetter: false,
    },
    {
      group,
      workload: 'bare MessagePort pipelined, 256 outstanding',
      ours: await messagePortPipelinedRate({ messages: n(300_000, 30_000) }),
      baseline: 741_000,
      baselineName: `${RESEARCH}, all sent at once`,
      unit: 'msgs/s',
      higherIsBetter: true,
    },
    {
      group,
      workload: 'bare TCP loopback round trip, 32 B',
      ours: await tcpRoundTripMicros({ messages: n(10_000, 1_000) }),
      baseline: 11,
      baselineName: RESEARCH,
      unit: 'µs',
      higherIsBetter: false,
    },
    {
      group,
      workload: `bare TCP loopback, 1 MiB writes, ${n(500, 50)} MB, same process`,
      ours: await tcpLoopbackMBps({ megabytes: n(500, 50) }),
      baseline: 1_930,
      baselineName: `${RESEARCH}, receiver in another process`,
      unit: 'MB/s',
      higherIsBetter: true,
    },
    {
      group,
      workload: `bare msgpackr pack+unpack, ${packedBytes} B message`,
      ours: await msgpackrRoundTripRate(SMALL_MESSAGE, { iterations: n(300_000, 30_000) }),
      // 1.05M packs/s and 0.89M unpacks/s of a 141 B message, combined.
      baseline: 1 / (1 / 1.05e6 + 1 / 0.89e6),
      baselineName: RESEARCH,
      unit: 'msgs/s',
      higherIsBetter: true,
    },
  ];
}
