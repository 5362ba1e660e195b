/**
 * One row per measured figure and the single table every benchmark run prints.
 * `ours` and `baseline` are in the same `unit`; the ratio column reads as
 * "percent of baseline" for throughputs and "times the baseline" for costs.
 */
import { writeFile } from 'node:fs/promises';

export interface BenchRow {
  group: string;
  workload: string;
  ours: number;
  baseline: number;
  baselineName: string;
  unit: string;
  higherIsBetter: boolean;
  target?: string;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

export function formatRatio(row: BenchRow): string {
  if (!(row.baseline > 0) || !Number.isFinite(row.ours)) return '—';
  const ratio = row.ours / row.baseline;
  return row.higherIsBetter ? `${(ratio * 100).toFixed(0)}%` : `${ratio.toFixed(2)}×`;
}

const HEADER = ['group', 'workload', 'ours', 'baseline (name)', 'ratio', 'target'] as const;

/** The table as text lines, columns padded; numeric columns right-aligned. */
export function formatTable(rows: readonly BenchRow[]): string {
  const cells = rows.map((row) => [
    row.group,
    row.workload,
    `${formatNumber(row.ours)} ${row.unit}`,
    row.baseline > 0 ? `${formatNumber(row.baseline)} ${row.unit} (${row.baselineName})` : `— (${row.baselineName})`,
    formatRatio(row),
    row.target ?? '',
  ]);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const rightAligned = new Set([2, 4]);
  const line = (cols: readonly string[]): string =>
    cols
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join(' | ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(HEADER), rule, ...cells.map(line)].join('\n');
}

export function printTable(rows: readonly BenchRow[], out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${formatTable(rows)}\n`);
  out.write('ratio: throughput rows = % of baseline (higher is better); cost rows = × baseline (lower is better)\n');
}

export async function writeRowsJson(file: string, rows: readonly BenchRow[]): Promise<void> {
  await writeFile(file, `${JSON.stringify(rows, null, 2)}\n`);
}
