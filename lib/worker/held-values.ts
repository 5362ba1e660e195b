/**
 * What a worker holds, as it tells a scheduler that has just (re)met it:
 * keys, their sizes and type names (the fields dask's worker registration
 * carried before reconnection was removed there).
 */
import type { WorkerState } from './worker-state.js';
import { storedBytes } from './spill-buffer.js';

export interface HeldValues {
  keys: string[];
  nbytes: Record<string, number>;
  types: Record<string, string>;
}

/** The values in memory on `state` (those `include` accepts, when given). */
export function heldValues(state: WorkerState, include?: (key: string) => boolean): HeldValues {
  const held: HeldValues = { keys: [], nbytes: {}, types: {} };
  for (const key of state.data.keys()) {
    if (include !== undefined && !include(key)) continue;
    const ts = state.tasks.get(key);
    held.keys.push(key);
    // Sizes without reading spilled values back from disk.
    held.nbytes[key] = ts !== undefined && ts.nbytes > 0 ? ts.nbytes : storedBytes(state.data, key);
    if (ts?.type !== undefined) held.types[key] = ts.type;
  }
  return held;
}
