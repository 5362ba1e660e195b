/** The options the Client's methods take, and the shapes of what some of them answer. */
import type { Security } from '../comm/security.js';

/**
 * Options of `Client.connect(target, ...)`.
 */
export interface ClientConnectOptions {
  /** For connecting and registering (milliseconds or a string with a unit); default 10 s. */
  timeout?: number | string;
  /** Shown by the scheduler; default the client id. */
  name?: string;
  /**
   * How long to keep trying to win the scheduler back after losing it
   * (milliseconds or a string with a unit; default 60 s; 0: give up at once).
   * Futures stay pending/finished meanwhile and calls wait; past it, they
   * fail with CommClosedError.
   */
  reconnectTimeout?: number | string;
  /** @internal The client id (default `Client-<uuid>`); a worker's client picks its own before connecting. */
  id?: string;
  /** TLS credentials for a tls:// scheduler (and the workers this client fetches from or scatters to). */
  security?: Security;
}

/**
 * Options of `client.scatter(data, ...)`: where the data goes and how its keys are made.
 */
export interface ScatterOptions {
  /** Place the data only on these workers (addresses, hostnames or names). */
  workers?: string | readonly string[];
  /** Put every item on every worker. */
  broadcast?: boolean;
  /** Default true: the key is a hash of the data, so the same data gets the same key. */
  hash?: boolean;
  /** milliseconds or a string with a unit */
  timeout?: number | string;
}

/**
 * Options of `client.publishDataset(name, value, ...)`.
 */
export interface PublishOptions {
  /** Replace a dataset already published under the name (default: error). */
  override?: boolean;
}

export interface WaitForWorkersOptions {
  timeout?: number | string;
}

export interface RestartOptions {
  /** How long to wait for the workers to come back (default 30 s). */
  timeout?: number | string;
}

export interface ReplicateOptions {
  /** Copies wanted of each key (default: one on every worker considered). */
  n?: number;
  /** Only these workers (addresses, names or hosts). */
  workers?: string | readonly string[];
}

/**
 * Options of `client.retireWorkers(workers, ...)`.
 */
export interface RetireWorkersOptions {
  /** Without `workers`: retire this many idle workers, those holding the fewest bytes first. */
  n?: number;
  /** Give up (the workers stay, running) after this long (default 120 s). */
  timeout?: number | string;
}

/** What `retireWorkers` answers: the workers retired, and those left running with the reason. */
export interface RetireWorkersResult {
  retired: Record<string, { name: string; nthreads: number; host: string; [field: string]: unknown }>;
  notRetired: Record<string, string>;
}

/** What `schedulerInfo()` answers (the scheduler's `identity`). */
export interface SchedulerInfo {
  type: string;
  id: string;
  address: string;
  workers: Record<string, {
    name: string;
    nthreads: number;
    resources?: Record<string, number>;
    memoryLimit?: number;
    pid?: number;
    host?: string;
    [field: string]: unknown;
  }>;
  [field: string]: unknown;
}
