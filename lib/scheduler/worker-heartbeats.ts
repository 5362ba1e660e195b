/**
 * The scheduler's view of which workers are alive (dask's `worker-ttl`):
 * every worker sends `heartbeat_worker` each `interval`; one silent for
 * longer than `ttl` is reported through `onExpired`. One unref'd timer checks
 * all workers (never one timer per worker or per message).
 */
import { parseDuration } from '../units.js';

/** dask's default for clusters of up to 10 workers. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 500;
const MIN_TTL_MS = 5000;

export interface WorkerHeartbeatsOptions {
  /** How often workers are asked to report (ms or a string with a unit). */
  interval?: number | string;
  /** Silence after which a worker is given up (default max(5 s, 10 intervals); 0 or Infinity: never). */
  ttl?: number | string;
  onExpired: (address: string, silentMs: number) => void;
  now?: () => number;
}

export class WorkerHeartbeats {
  readonly interval: number;
  readonly ttl: number;
  private readonly lastSeen = new Map<string, number>();
  private readonly onExpired: (address: string, silentMs: number) => void;
  private readonly now: () => number;
  private readonly checkEvery: number;
  private lastCheck: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: WorkerHeartbeatsOptions) {
    this.interval = parseDuration(options.interval ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    if (!(this.interval > 0 && Number.isFinite(this.interval))) throw new RangeError(`heartbeat interval must be a positive duration, got ${String(options.interval)}`);
    const ttl = options.ttl === undefined ? Math.max(MIN_TTL_MS, 10 * this.interval) : parseDuration(options.ttl);
    if (!(ttl >= 0)) throw new RangeError(`worker TTL must be a duration >= 0, got ${String(options.ttl)}`);
    this.ttl = ttl === 0 ? Infinity : ttl;
    this.onExpired = options.onExpired;
    this.now = options.now ?? Date.now;
    this.checkEvery = Number.isFinite(this.ttl) ? Math.min(1000, Math.max(20, this.ttl / 4)) : 0;
    this.lastCheck = this.now();
  }

  get enabled(): boolean {
    return Number.isFinite(this.ttl);
  }

  /** Any sign of life from `address` (registration, heartbeat). Starts the check timer with the first worker. */
  seen(address: string): void {
    this.lastSeen.set(address, this.now());
    if (this.timer === undefined && this.checkEvery > 0) {
      this.lastCheck = this.now();
      this.timer = setInterval(() => this.check(), this.checkEvery);
      this.timer.unref();
    }
  }

  forget(address: string): void {
    this.lastSeen.delete(address);
    if (this.lastSeen.size === 0) this.stopTimer();
  }

  /** Milliseconds since `address` was last heard from (undefined if unknown). */
  silence(address: string): number | undefined {
    const at = this.lastSeen.get(address);
    return at === undefined ? undefined : this.now() - at;
  }

  close(): void {
    this.lastSeen.clear();
    this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = this.now();
    const lag = now - this.lastCheck;
    this.lastCheck = now;
    if (lag > 3 * this.checkEvery) {
      // This process itself was stalled: the heartbeats that arrived meanwhile are still queued behind us.
      for (const address of this.lastSeen.keys()) this.lastSeen.set(address, now);
      return;
    }
    let expired: Array<[string, number]> | undefined;
    for (const [address, at] of this.lastSeen) {
      if (now - at > this.ttl) (expired ??= []).push([address, now - at]);
    }
    if (expired === undefined) return;
    for (const [address, silent] of expired) {
      this.lastSeen.delete(address);
      this.onExpired(address, silent);
    }
    if (this.lastSeen.size === 0) this.stopTimer();
  }
}
