/**
 * `--memory-limit` per worker process, as dask reads it: `auto` (the machine's
 * memory shared among the processes), `0` / `none` (no limit), a fraction of
 * the machine's memory (`0.5`), or a size (`2GB`, `512MiB`, `4e9`).
 */
import { parseBytes } from '../units.js';
import { UsageError } from './usage-error.js';

/** Bytes, or undefined for no limit. */
export function parseMemoryLimit(text: string, nprocs: number, totalMemory: number): number | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'auto') return Math.floor(totalMemory / nprocs);
  if (value === '0' || value === 'none' || value === 'null') return undefined;
  if (/^\d*\.\d+$|^[01]$/.test(value)) {
    const fraction = Number(value);
    if (fraction > 0 && fraction <= 1) return Math.floor(totalMemory * fraction);
  }
  let bytes: number;
  try {
    bytes = parseBytes(value);
  } catch {
    throw new UsageError(`invalid --memory-limit ${JSON.stringify(text)}: expected auto, 0, a fraction like 0.5, or a size like 2GB`);
  }
  return bytes === 0 ? undefined : bytes;
}
