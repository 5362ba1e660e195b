/**
 * The futures workloads in real dask.distributed, beside our figures from the
 * same `npm run bench:dask` invocation.
 *
 * The runner calls `runDask` after every `run()` module, handing it the rows
 * they produced (`opts.measured`); so the two systems run back to back, on the
 * same machine, minutes apart. Each dask workload runs in its own
 * `/usr/bin/python3 dask_workloads.py` process on a fresh LocalCluster, one at
 * a time. A workload that fails or times out becomes a note on stderr, never an
 * exception: dask is a yardstick, not part of the product.
 *
 * No `run` export on purpose: without `--dask` the runner skips this module.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './report.js';
import type { BenchOptions } from './run.js';

/** Debian's python, where `apt-get install python3-distributed` puts dask; `DASK_PYTHON` overrides. */
const PYTHON = process.env['DASK_PYTHON'] ?? '/usr/bin/python3';
/** The Python side lives beside this file's source; tsc does not copy it into dist/. */
const WORKLOADS_PY = fileURLToPath(new URL('../../benchmarks/dask_workloads.py', import.meta.url));
const WORKLOAD_TIMEOUT_MS = 120_000;
const INSTALL_HINT = 'install it with `apt-get install python3-distributed` (Debian/Ubuntu; runs under /usr/bin/python3)';

export type Mode = 'in-process' | 'processes';
export type Saturation = 'default' | 'inf';

interface DaskWorkload {
  /** `--workload` of dask_workloads.py. */
  python: string;
  /** Finds our row in benchmarks/futures.ts; a capture group, when present, is the size our run used. */
  ours: RegExp;
  /** Workload column when our row is missing. */
  label: (size: number) => string;
  /** Sizes of benchmarks/futures.ts (full, --quick), for when our row does not say. */
  size: number;
  quickSize: number;
  /** Multiplies the captured size into dask_workloads.py's `--size` (MB to bytes). */
  sizeScale?: number;
  higherIsBetter: boolean;
  /**
   * Whether `worker-saturation: inf` can change the figure: only with many
   * ready tasks at once. With one task in flight it is the default's figure.
   */
  saturates: boolean;
  /** Modes the workload exists in (both when absent); also measured in processes mode under --quick when ours was. */
  modes?: readonly Mode[];
}

const WORKLOADS: readonly DaskWorkload[] = [
  { python: 'round-trip', ours: /^submit -> result round trip/, label: () => 'submit -> result round trip (median)', size: 200, quickSize: 50, higherIsBetter: false, saturates: false },
  { python: 'submits', ours: /^(\d+) submits then gather/, label: (n) => `${n} submits then gather`, size: 5_000, quickSize: 500, higherIsBetter: true, saturates: true },
  { python: 'map', ours: /^map of (\d+) then gather/, label: (n) => `map of ${n} then gather`, size: 20_000, quickSize: 2_000, higherIsBetter: true, saturates: true },
  { python: 'chain', ours: /^(\d+)-task dependency chain/, label: (n) => `${n}-task dependency chain`, size: 2_000, quickSize: 200, higherIsBetter: false, saturates: false },
  { python: 'tree', ours: /^tree reduction, (\d+) leaves/, label: (n) => `tree reduction, ${n} leaves (${2 * n - 1} tasks)`, size: 4_096, quickSize: 512, higherIsBetter: false, saturates: true },
  // In-process only: with processes, dask-data-plane.ts sets dask's direct and via-the-scheduler figures beside line-rate.ts's rows.
  { python: 'scatter-gather', ours: /^(\d+) MB scatter \+ gather$/, label: (n) => `${n / 1e6} MB scatter + gather`, size: 100_000_000, quickSize: 10_000_000, sizeScale: 1e6, higherIsBetter: true, saturates: false, modes: ['in-process'] },
  { python: 'transfer', ours: /^(\d+) MB worker-to-worker transfer/, label: (n) => `${n / 1e6} MB worker-to-worker transfer`, size: 100_000_000, quickSize: 20_000_000, sizeScale: 1e6, higherIsBetter: true, saturates: false, modes: ['processes'] },
  { python: 'startup', ours: /start-?up/i, label: () => 'cluster start-up to first result', size: 1, quickSize: 1, higherIsBetter: false, saturates: false },
];

/** Project goals (issue 6): ≥ 10× dask's default, ≥ 5× its fastest setting. */
function target(higherIsBetter: boolean, saturation: Saturation): string {
  const times = saturation === 'inf' ? 5 : 10;
  return higherIsBetter ? `≥ ${times * 100}%` : `≤ ${(1 / times).toFixed(2)}×`;
}

export interface DaskFigure {
  value: number;
  unit: string;
  /** Every other field of dask_workloads.py's JSON line (e.g. scatter-gather's `scatter`, `gather`, `rounds`). */
  extra: Record<string, unknown>;
}

const log = (line: string): void => {
  process.stderr.write(`# dask: ${line}\n`);
};

export function daskImportable(): boolean {
  const probe = spawnSync(PYTHON, ['-c', 'import distributed'], { stdio: 'ignore', timeout: 60_000 });
  return probe.status === 0;
}

/**
 * Runs one workload in its own python process group; resolves null (after a note) on any failure.
 * `extraArgs` go to dask_workloads.py as they are (e.g. `--direct 1 --rounds 5`).
 */
export function measureDask(python: string, size: number, mode: Mode, saturation: Saturation, name: string, extraArgs: readonly string[] = []): Promise<DaskFigure | null> {
  const args = [WORKLOADS_PY, '--workload', python, '--size', String(size), '--processes', mode === 'processes' ? '1' : '0', '--saturation', saturation, ...extraArgs];
  const label = `${name}, ${mode}, saturation ${saturation}`;
  return new Promise((resolve) => {
    // Own process group, so a timeout also ends the LocalCluster's worker processes.
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, WORKLOAD_TIMEOUT_MS);
    const finish = (problem: string | null): void => {
      clearTimeout(timer);
      const figure = parseFigure(stdout);
      if (figure !== null) {
        // The figure was printed; a slow or failed shutdown afterwards does not spoil it.
        if (problem !== null) log(`${label}: ${problem} after reporting its figure`);
        resolve(figure);
        return;
      }
      const tail = stderr.trim().split('\n').slice(-3).join(' | ');
      log(`${label}: no figure (${problem ?? 'no JSON line on stdout'})${tail ? `: ${tail}` : ''}`);
      resolve(null);
    };
    child.on('error', (error) => finish(error.message));
    child.on('close', (code, signal) => {
      if (timedOut) finish(`timed out after ${WORKLOAD_TIMEOUT_MS / 1000} s`);
      else if (code !== 0) finish(`exit ${code ?? signal}`);
      else finish(null);
    });
  });
}

function parseFigure(stdout: string): DaskFigure | null {
  for (const line of stdout.trim().split('\n').reverse()) {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      const { value, unit, ...extra } = parsed;
      if (typeof value === 'number' && typeof unit === 'string') return { value, unit, extra };
    } catch {
      // dask or a library printed something that is not our line
    }
  }
  return null;
}

const SECONDS_PER: Readonly<Record<string, number>> = { µs: 1e-6, us: 1e-6, ms: 1e-3, s: 1 };

/** Factor turning a figure in unit `from` into unit `to`, or null when they do not measure the same thing. */
export function unitFactor(from: string, to: string): number | null {
  if (from === to) return 1;
  const time = /^(µs|us|ms|s)( ?\/ ?task| per task)?$/;
  const a = time.exec(from);
  const b = time.exec(to);
  if (a === null || b === null || Boolean(a[2]) !== Boolean(b[2])) return null;
  return SECONDS_PER[a[1]!]! / SECONDS_PER[b[1]!]!;
}

function modeOf(row: BenchRow): Mode {
  return /process(es)?\b/i.test(`${row.group} ${row.workload}`) && !/in-process/i.test(`${row.group} ${row.workload}`)
    ? 'processes'
    : 'in-process';
}

/** Groups of benchmarks/futures.ts (`futures`, perhaps `futures, processes`). */
const OUR_GROUP = /^futures\b/;

/** Our row for a workload and mode. */
function ourRow(measured: readonly BenchRow[], workload: DaskWorkload, mode: Mode): BenchRow | undefined {
  return measured.find((row) => OUR_GROUP.test(row.group) && workload.ours.test(row.workload) && modeOf(row) === mode);
}

/** The size dask runs: the one our row names (so both systems do the same work), else our table's. */
function sizeFor(workload: DaskWorkload, ours: BenchRow | undefined, quick: boolean): number {
  const captured = ours === undefined ? undefined : workload.ours.exec(ours.workload)?.[1];
  if (captured !== undefined) return Number(captured) * (workload.sizeScale ?? 1);
  return quick ? workload.quickSize : workload.size;
}

/** The modes our futures benchmark measured; in-process alone when there is nothing to go by. */
function modesToMeasure(measured: readonly BenchRow[], quick: boolean): Mode[] {
  const ours = new Set(WORKLOADS.flatMap((w) => (['in-process', 'processes'] as const).filter((m) => ourRow(measured, w, m))));
  if (ours.size === 0) return quick ? ['in-process'] : ['in-process', 'processes'];
  return [...ours];
}

/**
 * Whether dask runs this workload in this mode. --quick stays around a minute: a
 * processes-mode LocalCluster costs seconds per workload, so beside in-process rows
 * only the processes-only workloads (the transfer) run there, and only when ours did.
 */
function measuresIn(workload: DaskWorkload, mode: Mode, modes: readonly Mode[], measured: readonly BenchRow[], quick: boolean): boolean {
  if (workload.modes !== undefined && !workload.modes.includes(mode)) return false;
  if (!quick || mode !== 'processes' || !modes.includes('in-process')) return true;
  return workload.modes !== undefined && ourRow(measured, workload, mode) !== undefined;
}

/** Both settings where `inf` can matter; with --quick, only for the map (time budget). */
function saturationsFor(workload: DaskWorkload, quick: boolean): Saturation[] {
  if (!workload.saturates || (quick && workload.python !== 'map')) return ['default'];
  return ['default', 'inf'];
}

export async function runDask(opts: BenchOptions): Promise<BenchRow[]> {
  if (!daskImportable()) {
    log(`\`${PYTHON} -c 'import distributed'\` failed, so there is nothing to compare with; ${INSTALL_HINT}. Skipped.`);
    return [];
  }
  const measured = opts.measured ?? [];
  // Dask alone when nothing of ours was measured (`--only dask`); beside other modules only (e.g. `--only line-rate`), none of these.
  if (measured.length > 0 && !measured.some((row) => OUR_GROUP.test(row.group) && WORKLOADS.some((w) => w.ours.test(row.workload)))) {
    log('no futures-benchmark rows in this run; the futures workloads are left out');
    return [];
  }
  const rows: BenchRow[] = [];
  const modes = modesToMeasure(measured, opts.quick);
  for (const mode of modes) {
    for (const workload of WORKLOADS) {
      if (!measuresIn(workload, mode, modes, measured, opts.quick)) continue;
      const ours = ourRow(measured, workload, mode);
      const size = sizeFor(workload, ours, opts.quick);
      const name = ours?.workload ?? workload.label(size);
      if (ours === undefined) log(`${name}, ${mode}: no figure of ours in this run; the row shows dask alone`);
      for (const saturation of saturationsFor(workload, opts.quick)) {
        const dask = await measureDask(workload.python, size, mode, saturation, name);
        if (dask === null) continue;
        const factor = ours === undefined ? null : unitFactor(dask.unit, ours.unit);
        if (ours !== undefined && factor === null) log(`${name}: our unit "${ours.unit}" and dask's "${dask.unit}" differ; ratio left out`);
        const comparable = ours !== undefined && factor !== null;
        rows.push({
          group: `vs dask, ${mode}`,
          workload: name,
          ours: comparable ? ours.ours : Number.NaN,
          baseline: dask.value * (factor ?? 1),
          baselineName: saturation === 'inf' ? 'dask (fastest)' : workload.saturates ? 'dask (default)' : 'dask',
          unit: comparable ? ours.unit : dask.unit,
          higherIsBetter: workload.higherIsBetter,
          target: target(workload.higherIsBetter, saturation),
        });
      }
    }
  }
  return rows;
}
