/**
 * Which of this process's Node flags a worker thread accepts. Per-process
 * flags (`--expose-gc`, `--max-old-space-size=512`, `--stack-size`...) make
 * `new Worker` throw ERR_WORKER_INVALID_EXEC_ARGV, so a program started with
 * them could not start a cluster. Node has no list of them; its own check runs
 * synchronously in the Worker constructor before any thread starts, and its
 * error names every flag it refused. Probing with one flag that is always
 * refused (`--title`) therefore starts no thread and costs microseconds.
 */
import { Worker } from 'node:worker_threads';

const ALWAYS_REFUSED = '--title=distributed-ts-flag-probe';

const cache = new Map<string, ThreadFlags>();

export interface ThreadFlags {
  /** The flags a worker thread accepts, in order. */
  execArgv: string[];
  /** The flags left out (for a debug log). */
  dropped: string[];
  /** `--max-old-space-size` of the process, which threads get as a resource limit instead. */
  maxOldGenerationSizeMb?: number;
}

/** Flags Node refuses for worker threads, as named by its own check. */
export function refusedThreadFlags(execArgv: readonly string[]): Set<string> {
  try {
    const probe = new Worker('', { eval: true, execArgv: [...execArgv, ALWAYS_REFUSED], stdout: true, stderr: true });
    // Not expected (the probe flag is always refused); don't leave a thread behind.
    void probe.terminate();
    return new Set();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof Error ? error.message : '';
    const listed = /flags: (.*)$/s.exec(message);
    if (code !== 'ERR_WORKER_INVALID_EXEC_ARGV' || listed === null) return new Set();
    const refused = new Set(listed[1]!.split(', ').map((flag) => flag.trim()));
    refused.delete(ALWAYS_REFUSED);
    return refused;
  }
}

/** `execArgv` without what worker threads refuse (a refused flag's separate value goes with it). */
export function threadFlags(execArgv: readonly string[]): ThreadFlags {
  const cacheKey = execArgv.join('\0');
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  const refused = execArgv.length === 0 ? new Set<string>() : refusedThreadFlags(execArgv);
  const kept: string[] = [];
  const dropped: string[] = [];
  let maxOldGenerationSizeMb: number | undefined;
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i]!;
    if (!refused.has(flag)) {
      kept.push(flag);
      continue;
    }
    dropped.push(flag);
    let value: string | undefined;
    if (flag.includes('=')) value = flag.slice(flag.indexOf('=') + 1);
    else if (i + 1 < execArgv.length && !execArgv[i + 1]!.startsWith('-')) value = execArgv[++i]!;
    if (value !== undefined && !flag.includes('=')) dropped.push(value);
    if (/^--max[-_]old[-_]space[-_]size\b/.test(flag) && value !== undefined && /^\d+$/.test(value)) {
      maxOldGenerationSizeMb = Number(value);
    }
  }
  const result: ThreadFlags = { execArgv: kept, dropped, ...(maxOldGenerationSizeMb !== undefined ? { maxOldGenerationSizeMb } : {}) };
  cache.set(cacheKey, result);
  return result;
}
