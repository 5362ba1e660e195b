/**
 * Delay before restarting a worker that died on its own: the first restart is
 * immediate, then 250 ms, 500 ms, 1 s… up to `maxMs`, so a worker that dies at
 * once every time does not become a hot loop. A worker that stayed up for
 * `stableMs` resets the sequence.
 */
export interface RestartBackoffOptions {
  baseMs?: number;
  maxMs?: number;
  stableMs?: number;
}

export class RestartBackoff {
  private failures = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;

  constructor(options: RestartBackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 250;
    this.maxMs = options.maxMs ?? 10_000;
    this.stableMs = options.stableMs ?? 10_000;
  }

  /** Milliseconds to wait before the next restart of a worker that ran for `uptimeMs`. */
  nextDelay(uptimeMs: number): number {
    if (uptimeMs >= this.stableMs) this.failures = 0;
    const delay = this.failures === 0 ? 0 : Math.min(this.maxMs, this.baseMs * 2 ** (this.failures - 1));
    this.failures++;
    return delay;
  }
}
