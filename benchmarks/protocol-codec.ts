/**
 * Wire codec throughput: encodeBatch + WireDecoder.push of one typical
 * compute-task op-dict per message, beside bare msgpackr pack + unpack of the
 * same object (same options) in the same process. Target: ours >= 50 % of bare.
 *
 * Run alone: `node dist/benchmarks/protocol-codec.js [--quick]`.
 */
import { Packr, Unpackr } from 'msgpackr';
import { pathToFileURL } from 'node:url';
import { encodeBatch, WireDecoder } from '../lib/protocol/wire.js';
import { encodeValue } from '../lib/protocol/values.js';
import { DependencyRef } from '../lib/protocol/dependency-ref.js';
import type { ComputeTaskMsg, OpDict } from '../lib/protocol/messages.js';

import type { BenchRow } from './report.js';

function computeTaskMessage(): ComputeTaskMsg {
  // ~200 bytes of encoded args: a few numbers, a string, a dependency placeholder.
  let args = encodeValue([new DependencyRef('load-3f2a9c1e-17'), 17, 'x'.repeat(120), { scale: 2.5, offset: -1 }]);
  if (args.byteLength < 200) args = encodeValue([new DependencyRef('load-3f2a9c1e-17'), 17, 'x'.repeat(120 + 200 - args.byteLength), { scale: 2.5, offset: -1 }]);
  return {
    op: 'compute-task',
    key: 'inc-7d8c2e61f0a94b5c-42',
    runId: 1042,
    runSpec: { fn: { kind: 'source', source: '(x, n, s, o) => x * o.scale + n', name: 'inc' }, args },
    whoHas: { 'load-3f2a9c1e-17': ['tcp://127.0.0.1:40123'] },
    nbytes: { 'load-3f2a9c1e-17': 8000 },
    priority: [0, 1, 1042],
    stimulusId: 'update-graph-1731000000.123',
  };
}

/** Operations per second of `step`, timed over `ms` milliseconds after a warm-up. */
function rate(step: () => void, ms: number): number {
  for (let i = 0; i < 2000; i++) step();
  let operations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 500; i++) step();
    operations += 500;
    now = process.hrtime.bigint();
  }
  return operations / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const message = computeTaskMessage() as unknown as OpDict;
  const batch = [message];
  const packr = new Packr({ useRecords: false, moreTypes: true });
  const unpackr = new Unpackr({ useRecords: false, moreTypes: true });
  const decoder = new WireDecoder();
  let sink: unknown;

  const bare = (): void => {
    sink = unpackr.unpack(packr.pack(message));
  };
  const ours = (): void => {
    const buffers = encodeBatch(batch);
    for (let i = 0; i < buffers.length; i++) sink = decoder.push(buffers[i]!);
  };

  const rounds = opts.quick ? 3 : 7;
  const ms = opts.quick ? 150 : 500;
  const oursRates: number[] = [];
  const bareRates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate so drift (thermal, GC, JIT) hits both sides alike.
    bareRates.push(rate(bare, ms));
    oursRates.push(rate(ours, ms));
  }
  void sink;
  return [
    {
      group: 'protocol',
      workload: 'compute-task op-dict (200 B args), encodeBatch + WireDecoder.push, 1 message per batch',
      ours: Math.round(median(oursRates)),
      baseline: Math.round(median(bareRates)),
      baselineName: 'msgpackr pack + unpack (same object, same options)',
      unit: 'messages/s',
      higherIsBetter: true,
      target: '>= 50% of baseline',
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  for (const row of rows) {
    const ratio = ((row.ours / row.baseline) * 100).toFixed(0);
    process.stdout.write(`${row.group} | ${row.workload}: ours ${row.ours} ${row.unit}, ${row.baselineName} ${row.baseline} ${row.unit} (${ratio}%, target ${row.target})\n`);
  }
}
