/**
 * The nanny's memory watchdog (dask's worker.memory.pause / terminate): every
 * `intervalMs` it samples the worker process's resident memory; at
 * `pauseFraction` of the limit it asks the worker to pause, below it again to
 * resume, and at `terminateFraction` it reports the overrun once (the nanny
 * then kills and restarts the worker and calls `reset()` for the new one).
 */
import { readFileSync } from 'node:fs';

export interface MemoryMonitorOptions {
  limit: number;
  /** Resident bytes of the worker process now, or undefined if unknown. */
  sample: () => number | undefined;
  onPause: (rss: number) => void;
  onUnpause: (rss: number) => void;
  onTerminate: (rss: number) => void;
  pauseFraction?: number;
  terminateFraction?: number;
  intervalMs?: number;
}

export const DEFAULT_PAUSE_FRACTION = 0.8;
export const DEFAULT_TERMINATE_FRACTION = 0.95;

export class MemoryMonitor {
  private timer: NodeJS.Timeout | undefined;
  private paused = false;
  private terminated = false;
  private readonly pauseAt: number;
  private readonly terminateAt: number;

  constructor(private readonly options: MemoryMonitorOptions) {
    this.pauseAt = options.limit * (options.pauseFraction ?? DEFAULT_PAUSE_FRACTION);
    this.terminateAt = options.limit * (options.terminateFraction ?? DEFAULT_TERMINATE_FRACTION);
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.check(), this.options.intervalMs ?? 150);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Forget pause/terminate state (a new worker process). */
  reset(): void {
    this.paused = false;
    this.terminated = false;
  }

  /** One sample and its consequences; `start()` calls it on every tick. */
  check(): void {
    if (this.terminated) return;
    const rss = this.options.sample();
    if (rss === undefined) return;
    if (rss >= this.terminateAt) {
      this.terminated = true;
      this.options.onTerminate(rss);
    } else if (rss >= this.pauseAt) {
      if (!this.paused) {
        this.paused = true;
        this.options.onPause(rss);
      }
    } else if (this.paused) {
      this.paused = false;
      this.options.onUnpause(rss);
    }
  }
}

/** Resident memory of process `pid` from /proc (Linux), or undefined where that is not available. */
export function procRss(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}
