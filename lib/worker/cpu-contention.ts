/**
 * Whether a thread that is about to spin would take a processor some other
 * thread needs. The 1-minute load average answered this before, and it
 * defeated itself: it counts the spinning threads of our own processes, so a
 * round trip whose worker spins keeps the load near 2 on a 2-core machine and
 * turns the spin off (benchmarks/README.md, "Processes round trip"). Instead
 * the gauge samples the threads runnable right now (Linux: /proc/loadavg's
 * fourth field, "running/total"), leaves out the sampling thread itself (it
 * is the one deciding whether to spin, and it is not spinning yet), and
 * smooths the samples. Where there is no /proc/loadavg, the 1-minute load
 * average stands in for the sample.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';

export interface ContentionGaugeOptions {
  /** Threads runnable on the machine right now, the caller included; undefined when unknown. */
  sample?: () => number | undefined;
  /** Processors (default availableParallelism()). */
  cpus?: number;
  /** Milliseconds between two samples; a decision in between reuses the last (default 100). */
  intervalMs?: number;
}

/**
 * Default milliseconds between samples. A sample is taken on the waiting
 * thread's way to its spin, and opening /proc/loadavg took up to ~80 µs on a
 * loaded machine (profiled): once in a few hundred round trips, not every 30.
 */
const SAMPLE_EVERY_MS = 100;

/** How much one sample moves the smoothed count. */
const WEIGHT = 0.3;

/**
 * Runnable threads from /proc/loadavg ("0.52 0.58 0.59 3/612 12345": the
 * fourth field's first number), or the rounded 1-minute load average where
 * that file cannot be read. Opened and closed each time (10-80 µs): a
 * descriptor kept open would outlive each pool thread that opened it.
 */
export function runnableThreads(): number {
  try {
    const fd = openSync('/proc/loadavg', 'r');
    try {
      const bytes = Buffer.allocUnsafe(64);
      const length = readSync(fd, bytes, 0, 64, 0);
      const running = parseRunnable(bytes.toString('latin1', 0, length));
      if (running !== undefined) return running;
    } finally {
      closeSync(fd);
    }
  } catch {
    // not Linux, or /proc not mounted
  }
  return Math.round(loadavg()[0]!);
}

/** The runnable count of a /proc/loadavg line, or undefined when the line is not one. */
export function parseRunnable(line: string): number | undefined {
  const match = /^\S+ \S+ \S+ (\d+)\//.exec(line);
  return match === null ? undefined : Number(match[1]);
}

export class ContentionGauge {
  private readonly sample: () => number | undefined;
  readonly cpus: number;
  readonly intervalMs: number;
  private sampledAt = -Infinity;
  /** Runnable threads other than the sampling one, smoothed; undefined before the first sample. */
  private others: number | undefined;

  constructor(options: ContentionGaugeOptions = {}) {
    this.sample = options.sample ?? runnableThreads;
    this.cpus = options.cpus ?? availableParallelism();
    this.intervalMs = options.intervalMs ?? SAMPLE_EVERY_MS;
  }

  /** The smoothed count of other runnable threads (undefined before a sample). */
  get otherRunnable(): number | undefined {
    return this.others;
  }

  /**
   * True while the other runnable threads (the one we would wait for among
   * them) fill every processor: a spin would then hold a processor one of
   * them is queued for.
   */
  contended(now: number): boolean {
    if (now - this.sampledAt >= this.intervalMs) {
      this.sampledAt = now;
      const running = this.sample();
      if (running !== undefined) {
        const others = Math.max(0, running - 1);
        this.others = this.others === undefined ? others : this.others + WEIGHT * (others - this.others);
      }
    }
    return this.others !== undefined && this.others >= this.cpus;
  }
}
