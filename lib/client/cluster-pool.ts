/**
 * ClusterPool: piscina's pool surface (`run`, `close`, `destroy`, `queueSize`,
 * `completed`, 'drain') with each run a Future on a cluster, so code written
 * against piscina moves its work onto many machines by changing one
 * constructor, and gets retries, worker-loss resilience and data locality.
 *
 * Runs beyond `maxInFlight` wait in this pool's own queue (that is what
 * `queueSize` counts): an abort removes them there without a round trip, and a
 * program that queues a million runs does not flood the scheduler with them.
 */
import { EventEmitter } from 'node:events';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AbortError } from '../errors.js';
import { remote, type RemoteFunction } from '../task-function.js';
import { Client, type ConnectTarget } from './client.js';
import type { Future } from './future.js';
import { RunQueue } from './run-queue.js';

/** Either an AbortSignal (anything with addEventListener) or an EventEmitter that emits 'abort'. */
export type AbortSignalLike =
  | { readonly aborted?: boolean; readonly reason?: unknown; addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void; removeEventListener(type: 'abort', listener: () => void): void }
  | { once(event: 'abort', listener: () => void): unknown; removeListener(event: 'abort', listener: () => void): unknown };

/**
 * Options of `new ClusterPool(...)`.
 */
export interface ClusterPoolOptions {
  /**
   * The module the workers import: a `file:` URL (or absolute path) they can
   * read, or `upload:<name>` for a module shipped with `client.uploadFile`.
   * May be left out if every `run` names one.
   */
  filename?: string | URL | null;
  /** The export called with the task (default 'default': the default export, or a CommonJS module.exports). */
  name?: string | null;
  /** Run on this client's cluster (the pool does not close it). */
  client?: Client;
  /** Or connect to this scheduler (the pool owns and closes that client). */
  address?: ConnectTarget;
  /** Runs on the cluster at once (default 2048); more wait in the pool's queue. */
  maxInFlight?: number;
  /** Queued runs beyond which `run` rejects with 'Task queue is at limit' (default Infinity). */
  maxQueue?: number;
  /** Re-run a task that throws up to this many times (futures' `retries`; default 0). */
  retries?: number;
}

/**
 * Options of `pool.run(task, ...)`, as piscina's.
 */
export interface ClusterPoolRunOptions {
  /** Another module for this run (same forms as the pool's `filename`). */
  filename?: string | URL | null;
  /** Another export for this run. */
  name?: string | null;
  /** Aborting it rejects the run with an AbortError and cancels the task. */
  signal?: AbortSignalLike | null;
  /** Accepted for piscina compatibility and ignored: values are serialized to reach other machines. */
  transferList?: readonly unknown[];
}

const DEFAULT_MAX_IN_FLIGHT = 2048;

interface Job {
  readonly fn: RemoteFunction;
  readonly task: unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  future: Future<unknown> | undefined;
  detach: (() => void) | undefined;
  settled: boolean;
  queued: boolean;
}

type PoolState = 'open' | 'closing' | 'destroyed';

/**
 * piscina's pool surface (`run`, `close`, `destroy`, `queueSize`, `completed`,
 * 'drain') with each run a Future on a cluster: a piscina program moves onto
 * many machines by changing one constructor.
 *
 * @example
 * ```ts
 * const pool = new ClusterPool({ filename: new URL('./task.js', import.meta.url).href });
 * console.log(await pool.run({ a: 1, b: 2 }));              // the module's default export, on a worker
 * await pool.close();
 * ```
 */
export class ClusterPool extends EventEmitter implements AsyncDisposable {
  readonly #filename: string | undefined;
  readonly #name: string;
  readonly #maxInFlight: number;
  readonly #maxQueue: number;
  readonly #retries: number | undefined;
  readonly #owned: boolean;
  readonly #connecting: Promise<Client>;
  #client: Client | undefined;
  #connectError: unknown;
  readonly #queue = new RunQueue<Job>();
  readonly #inFlight = new Set<Job>();
  readonly #functions = new Map<string, RemoteFunction>();
  #completed = 0;
  #toRelease: Future<unknown>[] = [];
  #refillScheduled = false;
  #needsDrain = false;
  #state: PoolState = 'open';
  #closing: Promise<void> | undefined;
  #idle: (() => void) | undefined;
  readonly #startedAt = performance.now();

  constructor(options: ClusterPoolOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    const { filename, name, client, address, maxInFlight, maxQueue, retries } = options;
    if (filename !== undefined && filename !== null) this.#filename = moduleUrl(filename, 'options.filename');
    if (name !== undefined && name !== null && typeof name !== 'string') throw new TypeError('options.name must be a string or null');
    this.#name = name ?? 'default';
    if (client !== undefined && address !== undefined) throw new TypeError('give ClusterPool either client or address, not both');
    if (client !== undefined && !(client instanceof Client)) throw new TypeError('options.client must be a Client');
    if (maxInFlight !== undefined && !(Number.isInteger(maxInFlight) && maxInFlight > 0)) {
      throw new TypeError('options.maxInFlight must be a positive integer');
    }
    this.#maxInFlight = maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (maxQueue !== undefined && !(maxQueue === Infinity || (Number.isInteger(maxQueue) && maxQueue >= 0))) {
      throw new TypeError('options.maxQueue must be a non-negative integer or Infinity');
    }
    this.#maxQueue = maxQueue ?? Infinity;
    if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
      throw new TypeError('options.retries must be a non-negative integer');
    }
    this.#retries = retries;
    this.#owned = client === undefined;
    // Without a client: Client.connect() with no target starts (and owns) an in-process LocalCluster.
    this.#connecting = client !== undefined ? Promise.resolve(client) : address !== undefined ? Client.connect(address) : Client.connect();
    this.#connecting.then(
      (connected) => this.#connected(connected),
      (error: unknown) => this.#failed(error),
    );
  }

  /** Runs waiting in this pool for a place on the cluster (not yet submitted). */
  get queueSize(): number {
    return this.#queue.size;
  }

  /** Runs that finished on the cluster, with a value or an error; as in piscina, a run aborted while running counts, a queued one not. */
  get completed(): number {
    return this.#completed;
  }

  /** True while the pool is at capacity: runs are queued or `maxInFlight` are on the cluster. */
  get needsDrain(): boolean {
    return this.#needsDrain;
  }

  /** Milliseconds since the pool was made. */
  get duration(): number {
    return performance.now() - this.#startedAt;
  }

  /** The Client the runs go through (the pool's own one when it started a cluster). */
  client(): Promise<Client> {
    return this.#connecting;
  }

  /**
   * Calls the module's export with `task` on a worker and resolves to what it
   * returns. `task` may be a Future: the task then runs where that data is.
   */
  run<R = unknown>(task: unknown, options: ClusterPoolRunOptions = {}): Promise<R> {
    if (typeof options !== 'object' || options === null) return Promise.reject(new TypeError('options must be an object'));
    const { filename, name, signal, transferList } = options;
    if (transferList !== undefined && !Array.isArray(transferList)) {
      return Promise.reject(new TypeError('transferList argument must be an Array'));
    }
    if (name !== undefined && name !== null && typeof name !== 'string') {
      return Promise.reject(new TypeError('name argument must be a string'));
    }
    if (signal !== undefined && signal !== null && typeof signal !== 'object') {
      return Promise.reject(new TypeError('signal argument must be an object'));
    }
    let url = this.#filename;
    if (filename !== undefined && filename !== null) {
      try {
        url = moduleUrl(filename, 'filename argument');
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (url === undefined) return Promise.reject(new Error('filename must be provided to run() or in options object'));
    if (this.#state !== 'open') {
      return Promise.reject(new AbortError(this.#state === 'closing' ? 'queue is closing up' : 'queue is being terminated'));
    }
    if (signal != null && 'aborted' in signal && signal.aborted === true) return Promise.reject(new AbortError(signal.reason));
    if (this.#connectError !== undefined) return Promise.reject(this.#connectError);
    if (this.#queue.size >= this.#maxQueue && this.#inFlight.size >= this.#maxInFlight) {
      return Promise.reject(new Error('Task queue is at limit'));
    }

    return new Promise<R>((resolve, reject) => {
      const job: Job = {
        fn: this.#function(url, name ?? this.#name),
        task,
        resolve: resolve as (value: unknown) => void,
        reject,
        future: undefined,
        detach: undefined,
        settled: false,
        queued: false,
      };
      if (signal != null) job.detach = listenForAbort(signal, (reason) => this.#abort(job, reason));
      this.#queue.push(job);
      this.#pump();
    });
  }

  /** Lets queued and running tasks finish, then releases the pool (and the cluster it started). Idempotent. */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    if (this.#state === 'open') this.#state = 'closing';
    this.#closing = (async () => {
      if (this.#queue.size + this.#inFlight.size > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await this.#release();
      this.emit('close');
    })();
    return this.#closing;
  }

  /**
   * Rejects every queued and running run with an AbortError at once, cancels
   * the running tasks on the cluster, and releases the pool.
   */
  async destroy(): Promise<void> {
    this.#state = 'destroyed';
    const reason = 'queue is being terminated';
    const running = [...this.#inFlight];
    for (const job of [...this.#queue.drain(), ...running]) this.#settle(job, false, new AbortError(reason));
    this.#completed += running.length;
    this.#inFlight.clear();
    const futures = running.map((job) => job.future).filter((future): future is Future<unknown> => future !== undefined);
    if (futures.length > 0 && this.#client !== undefined && !this.#owned) {
      // A shared client's cluster lives on: stop our tasks there. An owned cluster is closed below.
      await this.#client.cancel(futures, { reason }).catch(() => undefined);
    }
    for (const future of futures) future.release();
    this.#idle?.();
    await (this.#closing ?? this.close());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #function(url: string, name: string): RemoteFunction {
    const id = `${name}\u0000${url}`;
    let fn = this.#functions.get(id);
    if (fn === undefined) {
      fn = remote(url, name);
      this.#functions.set(id, fn);
    }
    return fn;
  }

  #connected(client: Client): void {
    this.#client = this.#retries !== undefined ? client.with({ pure: false, retries: this.#retries }) : client.with({ pure: false });
    this.#pump();
  }

  #failed(error: unknown): void {
    this.#connectError = error;
    for (const job of this.#queue.drain()) this.#settle(job, false, error);
    this.#afterChange();
  }

  /** Moves queued runs onto the cluster while there is room. */
  #pump(): void {
    const client = this.#client;
    if (client !== undefined) {
      while (this.#inFlight.size < this.#maxInFlight && this.#queue.size > 0) {
        this.#start(client, this.#queue.shift()!);
      }
    }
    this.#afterChange();
  }

  #start(client: Client, job: Job): void {
    let future: Future<unknown>;
    try {
      future = client.submit(job.fn, job.task);
    } catch (error) {
      this.#settle(job, false, error);
      return;
    }
    job.future = future;
    this.#inFlight.add(job);
    future.result().then(
      (value) => this.#finished(job, true, value),
      (error: unknown) => this.#finished(job, false, error),
    );
  }

  #finished(job: Job, ok: boolean, outcome: unknown): void {
    if (job.future !== undefined) this.#toRelease.push(job.future);
    if (!job.settled) {
      this.#inFlight.delete(job);
      this.#completed++;
      this.#settle(job, ok, outcome);
    }
    this.#scheduleRefill();
  }

  /**
   * Results arrive in batches; refilling (and releasing) once per batch, not
   * per result, lets the client send one release and one update-graph for the
   * lot instead of alternating small ones.
   */
  #scheduleRefill(): void {
    if (this.#refillScheduled) return;
    this.#refillScheduled = true;
    setImmediate(() => {
      this.#refillScheduled = false;
      const done = this.#toRelease;
      this.#toRelease = [];
      for (const future of done) future.release();
      this.#pump();
    });
  }

  /** A queued run leaves the queue; a running one is cancelled on the cluster (its result is dropped). */
  #abort(job: Job, reason: unknown): void {
    if (job.settled) return;
    this.#queue.remove(job);
    const running = this.#inFlight.delete(job);
    // As in piscina, a run that had started counts as completed (it failed); a queued one does not.
    if (running) this.#completed++;
    this.#settle(job, false, new AbortError(reason));
    if (running && job.future !== undefined) {
      const future = job.future;
      future.cancel({ reason: 'aborted' }).then(
        () => future.release(),
        () => future.release(),
      );
    }
    this.#pump();
  }

  #settle(job: Job, ok: boolean, outcome: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.detach?.();
    if (ok) job.resolve(outcome);
    else job.reject(outcome);
  }

  /** 'needsDrain' when the pool reaches capacity, 'drain' when it falls below (as piscina), 'idle' wakes close(). */
  #afterChange(): void {
    const full = this.#queue.size > 0 || this.#inFlight.size >= this.#maxInFlight;
    if (full !== this.#needsDrain) {
      this.#needsDrain = full;
      const event = full ? 'needsDrain' : 'drain';
      queueMicrotask(() => this.emit(event));
    }
    if (this.#idle !== undefined && this.#queue.size === 0 && this.#inFlight.size === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  async #release(): Promise<void> {
    if (!this.#owned) return;
    // Our own client: closing it closes the LocalCluster Client.connect() started for it.
    const client = await this.#connecting.catch(() => undefined);
    await client?.close();
  }
}

/** A module reference workers can import: URLs and `upload:` names as given, absolute paths as file: URLs. */
function moduleUrl(filename: string | URL, what: string): string {
  if (filename instanceof URL) return filename.href;
  if (typeof filename !== 'string') throw new TypeError(`${what} must be a string`);
  if (isAbsolute(filename)) return pathToFileURL(filename).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(filename)) return filename;
  throw new TypeError(`${what} must be a file: URL, an absolute path or an upload: name, got ${JSON.stringify(filename)}`);
}

function listenForAbort(signal: AbortSignalLike, onAbort: (reason: unknown) => void): () => void {
  if ('addEventListener' in signal && typeof signal.addEventListener === 'function') {
    const listener = (): void => onAbort(signal.reason);
    signal.addEventListener('abort', listener, { once: true });
    return () => signal.removeEventListener('abort', listener);
  }
  if ('once' in signal && typeof signal.once === 'function') {
    const listener = (): void => onAbort(undefined);
    signal.once('abort', listener);
    return () => signal.removeListener('abort', listener);
  }
  throw new TypeError('signal argument must be an object with addEventListener or an EventEmitter');
}
