/**
 * Benchmark runner: `node dist/benchmarks/run.js [--quick] [--json FILE]
 * [--only NAME[,NAME]] [--dask] [--calibrate]`.
 *
 * Every module in this folder that exports `run(opts): Promise<BenchRow[]>` is
 * a benchmark; they run one after another (never concurrently: they would
 * compete for the two cores) and their rows go into one table. A module may
 * also export `runDask(opts)` returning rows whose baseline is dask; `--dask`
 * runs those, each right after its module's `run()`. A module exporting only
 * `runDask` (dask.ts) runs under `--dask` after every `run()` module, and gets
 * the rows measured so far in `opts.measured` to set dask's figures beside. A
 * figure missing its target never makes the exit code non-zero; a benchmark
 * that throws does.
 */
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { calibrationRows } from './baselines.js';
import { printTable, writeRowsJson, type BenchRow } from './report.js';

export interface BenchOptions {
  quick: boolean;
  /** For `runDask` only: every row measured earlier in this run (ours, to compare with dask's). */
  measured?: readonly BenchRow[];
}

interface BenchModule {
  run?: (opts: BenchOptions) => Promise<BenchRow[]>;
  runDask?: (opts: BenchOptions) => Promise<BenchRow[]>;
}

/** Files in this folder that are the harness itself, not benchmarks. */
const HARNESS = new Set(['report', 'baselines', 'run', 'noop-thread', 'workloads', 'heap', 'sshd-server']);
/** Thread/child-process sides of benchmarks are named `*-thread` / `*-child` and never imported here. */
const HELPER_SUFFIX = /-(thread|child)$/;

const here = dirname(fileURLToPath(import.meta.url));

async function benchmarkModules(): Promise<string[]> {
  const files = await readdir(here);
  return files
    .filter((f) => f.endsWith('.js'))
    .map((f) => basename(f, '.js'))
    .filter((name) => !HARNESS.has(name) && !HELPER_SUFFIX.test(name))
    .sort();
}

function isBenchRow(row: unknown): row is BenchRow {
  const r = row as Partial<BenchRow> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.group === 'string' &&
    typeof r.workload === 'string' &&
    typeof r.ours === 'number' &&
    typeof r.baseline === 'number' &&
    typeof r.unit === 'string' &&
    typeof r.higherIsBetter === 'boolean'
  );
}

function checkRows(module: string, rows: unknown): BenchRow[] {
  if (!Array.isArray(rows)) throw new TypeError(`${module}: run() must resolve to an array of rows`);
  const bad = rows.filter((row) => !isBenchRow(row));
  if (bad.length > 0) throw new TypeError(`${module}: malformed row ${JSON.stringify(bad[0])}`);
  return rows.map((row: BenchRow) => ({ ...row, baselineName: row.baselineName ?? 'baseline' }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      only: { type: 'string' },
      dask: { type: 'boolean', default: false },
      calibrate: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const opts: BenchOptions = { quick: values.quick };
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  const wanted = (name: string): boolean => only === undefined || only.includes(name);

  const rows: BenchRow[] = [];
  let failures = 0;
  let daskHooks = 0;
  const log = (line: string): boolean => process.stderr.write(`${line}\n`);

  const collect = async (label: string, produce: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now();
    log(`# ${label} ...`);
    try {
      rows.push(...checkRows(label, await produce()));
      log(`# ${label} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } catch (error) {
      failures++;
      log(`# ${label} FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  };

  if (values.calibrate || only?.includes('calibration')) {
    await collect('calibration', () => calibrationRows(opts.quick));
  }

  const names = (await benchmarkModules()).filter(wanted);
  if (only !== undefined) {
    const unknown = only.filter((n) => n !== 'calibration' && !names.includes(n));
    if (unknown.length > 0) log(`# no benchmark module named ${unknown.join(', ')}`);
  }
  const daskOnly: { name: string; runDask: NonNullable<BenchModule['runDask']> }[] = [];
  for (const name of names) {
    let mod: BenchModule;
    try {
      mod = (await import(pathToFileURL(join(here, `${name}.js`)).href)) as BenchModule;
    } catch (error) {
      failures++;
      log(`# ${name} could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (typeof mod.run !== 'function') {
      if (values.dask && typeof mod.runDask === 'function') daskOnly.push({ name, runDask: mod.runDask });
      continue;
    }
    const run = mod.run;
    await collect(name, () => run(opts));
    if (values.dask && typeof mod.runDask === 'function') {
      daskHooks++;
      const runDask = mod.runDask;
      await collect(`${name} (dask)`, () => runDask({ ...opts, measured: [...rows] }));
    }
  }
  for (const { name, runDask } of daskOnly) {
    daskHooks++;
    await collect(name, () => runDask({ ...opts, measured: [...rows] }));
  }

  if (rows.length === 0) {
    process.stdout.write('no benchmark rows (no modules exporting run() found; try --calibrate)\n');
  } else {
    printTable(rows);
  }
  if (values.dask && daskHooks === 0) process.stdout.write('dask comparison: not yet available\n');
  if (values.json !== undefined) {
    await writeRowsJson(values.json, rows);
    log(`# rows written to ${values.json}`);
  }
  if (failures > 0) process.exitCode = 1;

  // A benchmark that leaks a handle (pool, socket) must not hang `npm run bench`.
  setTimeout(() => {
    log('# warning: handles still open 2 s after the run; exiting');
    process.exit();
  }, 2000).unref();
}

await main();
