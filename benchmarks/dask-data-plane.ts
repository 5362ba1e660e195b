/**
 * The data-plane goals of issue 15 beside real dask.distributed, measured in
 * the same `npm run bench:dask` invocation (after every `run()` module, like
 * dask.ts, whose `measureDask` it uses):
 *
 * - zero-copy.ts's in-process 100 MB scatter + gather beside dask's
 *   in-process scatter + gather (1 worker × 2 threads, median of 5 rounds);
 * - line-rate.ts's 100 MB scatter + gather with worker processes beside dask's
 *   scatter + gather *via the scheduler* (its default): dask's direct figure
 *   is measured by line-rate.ts itself, bracketing our rounds;
 * - round-trip.ts's LocalCluster round trip beside dask's with one worker process;
 * - million.ts's "map returns" and longest event-loop stall beside how long
 *   dask's `client.map` of the same N holds its caller (dask builds every key
 *   before returning; its client's loop runs on another thread, so that call
 *   is the caller's longest block).
 *
 * A comparison runs when our row is in this run; with no rows of ours at all
 * (`--only dask-data-plane`) dask runs alone at the full sizes. No `run` export:
 * without `--dask` the runner skips this module.
 */
import type { BenchRow } from './report.js';
import type { BenchOptions } from './run.js';
import { daskImportable, measureDask, unitFactor, type Mode } from './dask.js';

interface Comparison {
  /** Finds our row; the first capture group is the size our run used (commas allowed). */
  group: RegExp;
  workload: RegExp;
  python: string;
  mode: Mode;
  extraArgs: readonly string[];
  /** Multiplies the captured size into dask_workloads.py's `--size`. */
  sizeScale: number;
  /** dask's size when our row is missing (full, --quick). */
  size: number;
  quickSize: number;
  /** The workload column when our row is missing. */
  label: (size: number) => string;
  baselineName: string;
  higherIsBetter: boolean;
  /** Further rows of ours set beside the same dask figure (same unit). */
  alsoBeside?: readonly { workload: RegExp; baselineName: string }[];
}

const COMPARISONS: readonly Comparison[] = [
  {
    group: /^zero-copy\b/,
    workload: /^(\d+) MB (?:Buffer )?scatter \+ gather$/,
    python: 'scatter-gather',
    mode: 'in-process',
    extraArgs: ['--rounds', '5'],
    sizeScale: 1e6,
    size: 100_000_000,
    quickSize: 20_000_000,
    label: (n) => `${n / 1e6} MB scatter + gather, in-process`,
    baselineName: 'dask in-process, same run (passes a reference)',
    higherIsBetter: true,
  },
  {
    group: /^futures, processes$/,
    workload: /^(\d+) MB scatter \+ gather, client <-> worker process \(direct\)$/,
    python: 'scatter-gather',
    mode: 'processes',
    extraArgs: ['--rounds', '5', '--direct', '0'],
    sizeScale: 1e6,
    size: 100_000_000,
    quickSize: 20_000_000,
    label: (n) => `${n / 1e6} MB scatter + gather, client <-> worker process`,
    baselineName: 'dask via the scheduler (its default), same run',
    higherIsBetter: true,
  },
  {
    group: /^round trip, processes$/,
    workload: /^submit -> result \(median\), LocalCluster\b/,
    python: 'round-trip',
    mode: 'processes',
    extraArgs: ['--workers', '1'],
    sizeScale: 1,
    size: 1000,
    quickSize: 200,
    label: () => 'submit -> result (median), LocalCluster, 1 worker process',
    baselineName: 'dask LocalCluster, 1 worker process, same run',
    higherIsBetter: false,
  },
  {
    group: /^million tasks$/,
    workload: /^map of ([\d,]+), in-process: map returns$/,
    python: 'map-returns',
    mode: 'in-process',
    extraArgs: [],
    sizeScale: 1,
    size: 1_000_000,
    quickSize: 100_000,
    label: (n) => `map of ${n.toLocaleString('en-US')}, in-process: map returns`,
    baselineName: 'dask client.map returns, same run',
    higherIsBetter: false,
    alsoBeside: [{ workload: /^map of ([\d,]+), in-process: longest event-loop stall, map -> all done$/, baselineName: 'dask: caller held for its whole client.map' }],
  },
  {
    group: /^million tasks$/,
    workload: /^map of ([\d,]+), client over TCP: map returns$/,
    python: 'map-returns',
    mode: 'processes',
    extraArgs: [],
    sizeScale: 1,
    size: 1_000_000,
    quickSize: 100_000,
    label: (n) => `map of ${n.toLocaleString('en-US')}, client over TCP: map returns`,
    baselineName: 'dask client.map returns (LocalCluster processes), same run',
    higherIsBetter: false,
    alsoBeside: [{ workload: /^map of ([\d,]+), client over TCP: longest event-loop stall, map -> all done$/, baselineName: 'dask: caller held for its whole client.map' }],
  },
];

const log = (line: string): void => {
  process.stderr.write(`# dask-data-plane: ${line}\n`);
};

function find(measured: readonly BenchRow[], group: RegExp, workload: RegExp): BenchRow | undefined {
  return measured.find((row) => group.test(row.group) && workload.test(row.workload));
}

export async function runDask(opts: BenchOptions): Promise<BenchRow[]> {
  if (!daskImportable()) {
    log('dask.distributed is not importable (see dask.ts); skipped');
    return [];
  }
  const measured = opts.measured ?? [];
  const rows: BenchRow[] = [];
  for (const c of COMPARISONS) {
    const ours = find(measured, c.group, c.workload);
    if (ours === undefined && measured.length > 0) continue;
    const captured = ours === undefined ? undefined : c.workload.exec(ours.workload)?.[1];
    const size = captured !== undefined ? Number(captured.replaceAll(',', '')) * c.sizeScale : opts.quick ? c.quickSize : c.size;
    const name = ours?.workload ?? c.label(size);
    const dask = await measureDask(c.python, size, c.mode, 'default', name, c.extraArgs);
    if (dask === null) continue;
    const rounds = dask.extra['rounds'];
    if (Array.isArray(rounds)) log(`${name}: dask rounds ${rounds.join(' / ')} ${dask.unit}`);
    const beside = [{ row: ours, baselineName: c.baselineName }];
    for (const also of c.alsoBeside ?? []) {
      const row = find(measured, c.group, also.workload);
      if (row !== undefined) beside.push({ row, baselineName: also.baselineName });
    }
    for (const { row, baselineName } of beside) {
      const factor = row === undefined ? 1 : unitFactor(dask.unit, row.unit);
      if (factor === null) {
        log(`${name}: our unit "${row!.unit}" and dask's "${dask.unit}" differ; row left out`);
        continue;
      }
      rows.push({
        group: `vs dask, ${c.mode}`,
        workload: row?.workload ?? name,
        ours: row?.ours ?? Number.NaN,
        baseline: dask.value * factor,
        baselineName,
        unit: row?.unit ?? dask.unit,
        higherIsBetter: c.higherIsBetter,
      });
    }
  }
  return rows;
}
