/**
 * How long to wait before the next attempt to reach a peer that went away
 * (the scheduler, usually): exponential from `baseMs`, capped at `maxMs`,
 * with part of each delay drawn at random so that many workers and clients
 * that lost the same scheduler do not knock on its door in lockstep. Pure:
 * the random source is a parameter, nothing here touches a timer.
 */
export interface BackoffPolicy {
  /** The first delay before jitter (default 100 ms). */
  baseMs: number;
  /** No delay exceeds this (default 2 s). */
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor: number;
  /** Fraction of each delay that is random, 0..1 (default 0.5: between half and all of it). */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = { baseMs: 100, maxMs: 2000, factor: 2, jitter: 0.5 };

/** Checks a partial policy and fills in the defaults; a RangeError names the bad field. */
export function backoffPolicy(options: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const policy = { ...DEFAULT_BACKOFF, ...options };
  if (!(Number.isFinite(policy.baseMs) && policy.baseMs >= 0)) throw new RangeError(`backoff baseMs must be a finite number >= 0, got ${policy.baseMs}`);
  if (!(Number.isFinite(policy.maxMs) && policy.maxMs >= policy.baseMs)) throw new RangeError(`backoff maxMs must be finite and >= baseMs, got ${policy.maxMs}`);
  if (!(Number.isFinite(policy.factor) && policy.factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${policy.factor}`);
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) throw new RangeError(`backoff jitter must be within 0..1, got ${policy.jitter}`);
  return policy;
}

/**
 * The delay after failed attempt number `attempt` (1 for the first failure).
 * `random` returns a number in [0, 1).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(attempt));
  // Past ~60 doublings any sane cap is reached; stop before the power overflows.
  const ceiling = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.min(n - 1, 60));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling * (1 - policy.jitter + policy.jitter * r));
}

/**
 * The delay before the next attempt, never past `deadline` (a time in the
 * same clock as `now`); undefined when the deadline leaves no room for another.
 */
export function nextAttemptDelay(
  attempt: number,
  now: number,
  deadline: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number | undefined {
  const left = deadline - now;
  if (!(left > 0)) return undefined;
  return Math.min(backoffDelay(attempt, policy, random), left);
}
