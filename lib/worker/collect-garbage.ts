/**
 * A full garbage collection on demand, for the spill monitor: values moved to
 * disk free their memory only when V8 collects their buffers, and the RSS the
 * nanny watches follows only then (dask forces a GC after spilling for the
 * same reason). `gc` is switched on at run time, since worker processes are
 * not started with --expose-gc. Throttled: at most one per `minIntervalMs`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;
let last = -Infinity;

export function collectGarbage(minIntervalMs = 1000): boolean {
  const now = performance.now();
  if (now - last < minIntervalMs) return false;
  last = now;
  if (gc === undefined) {
    const existing = (globalThis as { gc?: () => void }).gc;
    if (typeof existing === 'function') gc = existing;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
  return true;
}
