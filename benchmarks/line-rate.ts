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
 * Also reported: scatter alone and gather alone (each direction's share).
 *
 * dask's direct figure (`client.scatter(..., direct=True)` + `gather(...,
 * direct=True)`, 2 worker processes × 1 thread) is measured in the same run
 * when `/usr/bin/python3 -c 'import distributed'` works: half its rounds
 * right before ours, half right after, so both sit in the same minutes of a
 * noisy machine. Where dask is not importable the row falls back to the
 * figure recorded in issue 15 and says so.
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
import { daskImportable, measureDask } from './dask.js';

const group = 'futures, processes';
/** dask 2022.12 `client.scatter(os.urandom(10**8), direct=True)` + gather, 2 worker processes, same machine (issue 15). */
const DASK_DIRECT_RECORDED_MBPS = 1020;

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface DaskRounds {
  total: number[];
  scatter: number[];
  gather: number[];
}

const numbers = (value: unknown): number[] => (Array.isArray(value) ? value.filter((x): x is number => typeof x === 'number') : []);

/** Some rounds of dask's direct scatter + gather of `bytes` (its own python process and LocalCluster), appended to `into`. */
async function daskDirect(bytes: number, rounds: number, into: DaskRounds): Promise<void> {
  const figure = await measureDask('scatter-gather', bytes, 'processes', 'default', `${bytes / 1e6} MB direct scatter + gather`, ['--direct', '1', '--rounds', String(rounds)]);
  if (figure === null) return;
  into.total.push(...numbers(figure.extra['rounds']));
  into.scatter.push(...numbers(figure.extra['scatter_rounds']));
  into.gather.push(...numbers(figure.extra['gather_rounds']));
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
  const dask: DaskRounds | null = daskImportable() ? { total: [], scatter: [], gather: [] } : null;
  // Half of dask's rounds before ours, half after (each call is a fresh dask LocalCluster with a warm-up round).
  if (dask !== null) await daskDirect(bytes, Math.ceil(rounds / 2), dask);
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
  if (dask !== null) await daskDirect(bytes, Math.floor(rounds / 2) + 1, dask);
  const f = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' / ');
  process.stderr.write(`# line-rate: bare ${f(bare)}; scatter+gather ${f(total)} (scatter ${f(scatter)}, gather ${f(gather)}) MB/s\n`);
  if (dask !== null) process.stderr.write(`# line-rate: dask direct ${f(dask.total)} (scatter ${f(dask.scatter)}, gather ${f(dask.gather)}) MB/s\n`);
  const baseline = median(bare);
  const out: BenchRow[] = [
    { group, workload: `${mb} MB scatter + gather, client <-> worker process (direct)`, ours: median(total), baseline, baselineName: 'bare TCP socket, there and back', unit: 'MB/s', higherIsBetter: true, target: '≥ 80% of bare' },
  ];
  if (dask !== null && dask.total.length > 0) {
    const daskRow = (workload: string, ours: number[], theirs: number[], target?: string): BenchRow => ({
      group, workload, ours: median(ours), baseline: median(theirs), baselineName: 'dask direct=True, same run', unit: 'MB/s', higherIsBetter: true, ...(target !== undefined ? { target } : {}),
    });
    out.push(
      daskRow(`${mb} MB scatter + gather vs dask direct (same run)`, total, dask.total, '≥ 150%'),
      daskRow(`${mb} MB scatter alone vs dask direct (same run)`, scatter, dask.scatter),
      daskRow(`${mb} MB gather alone vs dask direct (same run)`, gather, dask.gather),
    );
  } else {
    const why = dask === null ? 'dask not importable here' : 'dask failed in this run';
    out.push({ group, workload: `${mb} MB scatter + gather vs dask direct (${why}: figure recorded in issue 15, not this run)`, ours: median(total), baseline: DASK_DIRECT_RECORDED_MBPS, baselineName: 'dask direct, recorded', unit: 'MB/s', higherIsBetter: true, target: '≥ 150%' });
  }
  out.push(
    { group, workload: `${mb} MB scatter alone, client -> worker process`, ours: median(scatter), baseline: baseline * 2, baselineName: 'bare TCP, one way (half the round trip)', unit: 'MB/s', higherIsBetter: true },
    { group, workload: `${mb} MB gather alone, worker process -> client`, ours: median(gather), baseline: baseline * 2, baselineName: 'bare TCP, one way (half the round trip)', unit: 'MB/s', higherIsBetter: true },
  );
  return out;
}
