/**
 * Across processes, client <-> worker transfers at line rate (issue 15): a
 * 100 MB Buffer of random bytes scattered from this process to a worker
 * process (direct: the scheduler only says where) and gathered back, payload
 * / total time as dask's figure. Baseline in the same run: the same bytes
 * over bare TCP sockets to a child process that receives them into one
 * fresh buffer and sends them back (line-rate-child.ts), each receiver
 * reading through `onread` (no copy in JavaScript, framed-reads.ts): the
 * least any store-and-return over TCP must do. Rounds alternate ours and
 * bare; medians.
 *
 * Also reported: scatter alone and gather alone (each direction's share),
 * and dask's direct figure from its last recorded run (dask is not always
 * installed where this runs: see README.md).
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client } from '../lib/client/client.js';
import { LocalCluster } from '../actors/local-cluster.js';
import { dialFramedReceiver, listenOnce, writeFramed } from './framed-reads.js';
import type { BenchRow } from './report.js';

const group = 'futures, processes';
/** dask 2022.12 `client.scatter(os.urandom(10**8), direct=True)` + gather, 2 worker processes, same machine (issue 15). */
const DASK_DIRECT_MBPS = 1020;

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

interface BarePeer {
  /** Seconds to send `payload` and receive it back whole. */
  roundTrip(payload: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/** The bare-socket peer: a child process sending whole messages back; each side reads into fresh buffers (onread). */
async function barePeer(): Promise<BarePeer> {
  const there = await listenOnce();
  const script = fileURLToPath(new URL('./line-rate-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, String(there.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [port] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  let arrived: () => void = () => undefined;
  const receiver = await dialFramedReceiver(Number(port), () => arrived());
  const sender = await there.accepted;
  there.close();
  return {
    async roundTrip(payload) {
      const back = new Promise<void>((resolve) => (arrived = resolve));
      const t0 = performance.now();
      writeFramed(sender, payload);
      await back;
      return (performance.now() - t0) / 1000;
    },
    async close() {
      sender.destroy();
      receiver.destroy();
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    },
  };
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const bytes = opts.quick ? 20_000_000 : 100_000_000;
  const mb = bytes / 1e6;
  const rounds = opts.quick ? 3 : 5;
  const payload = randomFillSync(Buffer.allocUnsafeSlow(bytes));
  const last = payload[bytes - 1];
  const bare: number[] = [];
  const total: number[] = [];
  const scatter: number[] = [];
  const gather: number[] = [];
  const peer = await barePeer();
  try {
    const cluster = await LocalCluster.start({ processes: true, nWorkers: 2, threadsPerWorker: 1 });
    try {
      const client = await Client.connect(cluster);
      try {
        const once = async (): Promise<void> => {
          const t0 = performance.now();
          const future = await client.scatter(payload, { hash: false });
          const t1 = performance.now();
          const back = await client.gather(future);
          const t2 = performance.now();
          if (back.byteLength !== bytes || back[bytes - 1] !== last || back[0] !== payload[0]) throw new Error('scatter + gather: different bytes back');
          future.release();
          scatter.push(mb / ((t1 - t0) / 1000));
          gather.push(mb / ((t2 - t1) / 1000));
          total.push(mb / ((t2 - t0) / 1000));
        };
        // Warm-up: connections to the workers, JIT on both sides.
        await once();
        await peer.roundTrip(payload);
        scatter.length = gather.length = total.length = 0;
        for (let i = 0; i < rounds; i++) {
          bare.push(mb / (await peer.roundTrip(payload)));
          await once();
        }
      } finally {
        await client.close();
      }
    } finally {
      await cluster.close();
    }
  } finally {
    await peer.close();
  }
  const f = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' / ');
  process.stderr.write(`# line-rate: bare ${f(bare)}; scatter+gather ${f(total)} (scatter ${f(scatter)}, gather ${f(gather)}) MB/s\n`);
  const baseline = median(bare);
  return [
    { group, workload: `${mb} MB scatter + gather, client <-> worker process (direct)`, ours: median(total), baseline, baselineName: 'bare TCP socket, there and back', unit: 'MB/s', higherIsBetter: true, target: '≥ 80% of bare' },
    { group, workload: `${mb} MB scatter + gather vs dask's direct figure (recorded, not this run)`, ours: median(total), baseline: DASK_DIRECT_MBPS, baselineName: 'dask direct scatter + gather', unit: 'MB/s', higherIsBetter: true, target: '≥ 150%' },
    { group, workload: `${mb} MB scatter alone, client -> worker process`, ours: median(scatter), baseline: baseline * 2, baselineName: 'bare TCP, one way (half the round trip)', unit: 'MB/s', higherIsBetter: true },
    { group, workload: `${mb} MB gather alone, worker process -> client`, ours: median(gather), baseline: baseline * 2, baselineName: 'bare TCP, one way (half the round trip)', unit: 'MB/s', higherIsBetter: true },
  ];
}
