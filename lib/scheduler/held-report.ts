/**
 * A worker's report of the values it holds (register-worker after a
 * scheduler restart, or `held-keys`): checked as a whole, so a malformed
 * report changes nothing.
 */
import { DistributedError } from '../errors.js';
import type { HeldEntry } from './state.js';

/** The entries of `{ keys, nbytes, types }`; undefined when the message carries no `nbytes` (a plain registration). */
export function parseHeldReport(msg: { readonly keys?: unknown; readonly nbytes?: unknown; readonly types?: unknown }, op: string): HeldEntry[] | undefined {
  if (msg.nbytes === undefined || msg.nbytes === null) return undefined;
  const { keys, nbytes, types } = msg;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new DistributedError(`${op}: keys must be an array of strings`);
  if (typeof nbytes !== 'object') throw new DistributedError(`${op}: nbytes must map keys to sizes`);
  if (types !== undefined && (typeof types !== 'object' || types === null)) throw new DistributedError(`${op}: types must map keys to type names`);
  const sizes = nbytes as Record<string, unknown>;
  const names = (types ?? {}) as Record<string, unknown>;
  return (keys as string[]).map((key) => {
    const size = Object.hasOwn(sizes, key) ? sizes[key] : 0;
    if (!(typeof size === 'number' && Number.isFinite(size) && size >= 0)) throw new DistributedError(`${op}: nbytes of ${key} must be a number >= 0`);
    const type = Object.hasOwn(names, key) ? names[key] : undefined;
    if (type !== undefined && typeof type !== 'string') throw new DistributedError(`${op}: type of ${key} must be a string`);
    return { key, nbytes: size, type };
  });
}
