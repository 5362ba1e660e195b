/**
 * A cluster's adaptive loop (dask's `Adaptive`): every `interval` it asks the
 * scheduler for `adaptive_target`, lets the pure `recommend` decide, and
 * starts workers or retires idle ones gracefully (their data moves first).
 * One pass at a time; a failed pass is logged and the next one tries again.
 */
import { childLogger } from '../lib/logging.js';
import { recommend, type Recommendation } from '../lib/scheduler/adaptive.js';
import { parseDuration } from '../lib/units.js';
import type { OpDict } from '../lib/protocol/messages.js';
import type { AdaptiveTargetReply } from './scheduler/adaptive.js';

/**
 * Options of `cluster.adapt(...)`: bounds and pacing of adaptive scaling (durations in milliseconds or strings with a unit).
 */
export interface AdaptOptions {
  /** Never fewer workers than this (default 0). */
  minimum?: number;
  /** Never more workers than this (default Infinity). */
  maximum?: number;
  /** How often to look (default 1 s). */
  interval?: number | string;
  /** A worker must have been idle this long before it may be retired (default 3 intervals). */
  wait?: number | string;
  /** Work per thread to aim for (dask's target-duration, default 5 s). */
  targetDuration?: number | string;
}

/** What the loop needs from a cluster. */
export interface AdaptiveCluster {
  /** Workers started or starting. */
  readonly planned: number;
  readonly threadsPerWorker: number;
  /** A request to the scheduler. */
  schedulerCall<T>(msg: OpDict): Promise<T>;
  /** Start workers until `n` are planned. */
  scaleUp(n: number): Promise<void>;
  /** Retire these workers gracefully. */
  retire(addresses: readonly string[]): Promise<void>;
}

/** One pass, for whoever watches (tests, benchmarks). */
export interface AdaptiveStep {
  target: number;
  planned: number;
  recommendation: Recommendation;
}

const log = childLogger('adaptive');

/**
 * The loop `cluster.adapt(...)` starts: it scales the cluster with the work
 * the scheduler sees, as dask's `Adaptive`, until stopped.
 *
 * @example
 * ```ts
 * const adaptive = cluster.adapt({ minimum: 1, maximum: 8, wait: '30s' });
 * // ... later
 * adaptive.stop();
 * ```
 */
export class Adaptive {
  readonly minimum: number;
  readonly maximum: number;
  readonly interval: number;
  readonly wait: number;
  readonly targetDuration: number | undefined;
  #idleSince = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #onStep: ((step: AdaptiveStep) => void) | undefined;

  constructor(private readonly cluster: AdaptiveCluster, options: AdaptOptions = {}, onStep?: (step: AdaptiveStep) => void) {
    this.minimum = options.minimum ?? 0;
    this.maximum = options.maximum ?? Infinity;
    if (!(Number.isInteger(this.minimum) && this.minimum >= 0)) throw new TypeError(`adapt: minimum must be an integer >= 0, got ${String(options.minimum)}`);
    if (!(this.maximum === Infinity || (Number.isInteger(this.maximum) && this.maximum >= this.minimum))) {
      throw new TypeError(`adapt: maximum must be an integer >= minimum (or Infinity), got ${String(options.maximum)}`);
    }
    this.interval = parseDuration(options.interval ?? '1s');
    if (!(this.interval > 0 && Number.isFinite(this.interval))) throw new TypeError('adapt: interval must be a positive duration');
    this.wait = parseDuration(options.wait ?? 3 * this.interval);
    this.targetDuration = options.targetDuration === undefined ? undefined : parseDuration(options.targetDuration);
    this.#onStep = onStep;
    this.#timer = setInterval(() => void this.step(), this.interval);
    this.#timer.unref();
  }

  /** Runs one pass now (or joins the one under way). */
  step(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<void> {
    try {
      const reply = await this.cluster.schedulerCall<AdaptiveTargetReply>({
        op: 'adaptive_target',
        threadsPerWorker: this.cluster.threadsPerWorker,
        ...(this.targetDuration !== undefined ? { targetDuration: this.targetDuration } : {}),
      });
      if (this.#stopped) return;
      const planned = this.cluster.planned;
      const { recommendation, idleSince } = recommend({
        target: reply.target,
        minimum: this.minimum,
        maximum: this.maximum,
        planned,
        observed: reply.workers,
        idleSince: this.#idleSince,
        now: Date.now(),
        waitMs: this.wait,
      });
      this.#idleSince = idleSince;
      this.#onStep?.({ target: reply.target, planned, recommendation });
      if (recommendation.action === 'up') {
        log.info({ from: planned, to: recommendation.n, target: reply.target }, 'adaptive: scaling up');
        await this.cluster.scaleUp(recommendation.n);
      } else if (recommendation.action === 'down') {
        log.info({ retire: recommendation.workers, target: reply.target }, 'adaptive: retiring idle workers');
        await this.cluster.retire(recommendation.workers);
        for (const address of recommendation.workers) this.#idleSince.delete(address);
      }
    } catch (error) {
      if (!this.#stopped) log.warn({ err: error }, 'adaptive pass failed; trying again next interval');
    }
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Stops the loop (waits for a pass under way). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
