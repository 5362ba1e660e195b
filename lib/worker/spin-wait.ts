/**
 * Waiting for the next message on a batch port by polling it for a moment
 * instead of going to sleep. A sleeping thread is woken by the kernel: the
 * sender pays a system call (and, in a virtual machine, an interrupt to the
 * other CPU) and the receiver pays the wake-up itself, 10–60 µs each on the
 * machines we measure — more than everything else on a dependency chain's
 * link. Polling costs CPU, so it happens only while it pays: `SpinPolicy`
 * (pure, clock injected) remembers whether recent answers came back within
 * the window and says whether the next wait should spin.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ContentionGauge } from './cpu-contention.js';

export interface SpinPolicyOptions {
  /** How long one spin may poll, in milliseconds (default 0.1). */
  windowMs?: number;
  /** Milliseconds since some origin (default performance.now). */
  now?: () => number;
  /**
   * True while no processor is spare (default: never). A poller then takes the
   * processor the sender needs: on a machine with more runnable threads than
   * processors, the thread we wait for may be queued behind our own spin.
   */
  contended?: () => boolean;
}

const gauge = new ContentionGauge();

/**
 * Whether the machine has no processor to spare for the thread a spin would
 * wait for: the threads runnable besides the caller, smoothed, fill every
 * processor (cpu-contention.ts; sampled at most every 100 ms). Batch ports spin
 * only when this is false. Measured on 2 shared cores at load 7–17: the
 * processes round trip with the worker's spins 626 µs (median of 5), without
 * 518 µs (benchmarks/README.md).
 */
export function cpusContended(now: number = performance.now()): boolean {
  return gauge.contended(now);
}

/** How much one observation moves the score (an exponentially weighted hit rate). */
const WEIGHT = 0.25;
/** Spin while at least this share of recent waits ended within the window. */
const SPIN_WHEN_SCORE = 0.5;
/** Out of spin mode, every so many waits spin anyway (doubling up to this) to notice that spinning pays again. */
const MAX_PROBE_INTERVAL = 64;

export class SpinPolicy {
  readonly windowMs: number;
  readonly now: () => number;
  private readonly contended: (() => boolean) | undefined;
  /** Waits that did not spin because no processor was spare. */
  yielded = 0;
  /** Waits whose message came within the window (spinning or not) and waits that took longer. */
  hits = 0;
  misses = 0;
  /** Messages picked up by polling. */
  caught = 0;
  private score = 1;
  private probeInterval = 1;
  private waitsSinceProbe = 0;

  constructor(options: SpinPolicyOptions = {}) {
    const windowMs = options.windowMs ?? 0.1;
    if (!(windowMs >= 0) || !Number.isFinite(windowMs)) throw new RangeError(`windowMs must be a finite number >= 0, got ${windowMs}`);
    this.windowMs = windowMs;
    this.now = options.now ?? (() => performance.now());
    this.contended = options.contended;
  }

  /**
   * Should the wait that starts now spin? Yes while recent waits were short;
   * otherwise now and then, because a wait that sleeps looks long (it
   * includes the wake-up) even when the message was sent at once.
   */
  spinNext(): boolean {
    if (this.windowMs === 0) return false;
    if (this.contended !== undefined && this.contended()) {
      this.yielded++;
      return false;
    }
    if (this.score >= SPIN_WHEN_SCORE) return true;
    if (++this.waitsSinceProbe < this.probeInterval) return false;
    this.waitsSinceProbe = 0;
    this.probeInterval = Math.min(this.probeInterval * 2, MAX_PROBE_INTERVAL);
    return true;
  }

  /** A wait that began at `startedAt` ended now. */
  record(startedAt: number): void {
    const hit = this.now() - startedAt <= this.windowMs;
    if (hit) {
      this.hits++;
      this.score = Math.max(this.score + WEIGHT * (1 - this.score), SPIN_WHEN_SCORE);
      this.probeInterval = 1;
    } else {
      this.misses++;
      this.score -= WEIGHT * this.score;
    }
  }
}

/**
 * Polls `port` until a message arrives or the policy's window, counted from
 * `startedAt`, has passed. Returns the message or undefined; a closed port
 * ends the spin.
 */
export function spinForMessage(port: MessagePort, policy: SpinPolicy, startedAt: number): { message: unknown } | undefined {
  const deadline = startedAt + policy.windowMs;
  try {
    do {
      const received = receiveMessageOnPort(port);
      if (received !== undefined) {
        policy.caught++;
        return received;
      }
    } while (policy.now() < deadline);
  } catch {
    // a closed port: the 'close' event tells the owner
  }
  return undefined;
}
