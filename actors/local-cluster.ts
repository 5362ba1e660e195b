/**
 * A scheduler and workers started together, for one machine. With
 * `processes: false` (the default) everything runs in this process: the
 * actors talk over inproc:// MessagePorts and each worker runs its tasks on
 * its own piscina thread pool. With `processes: true` the scheduler listens on
 * TCP 127.0.0.1 (a free port) and each worker is a child process supervised by
 * a Nanny in this process.
 */
import { availableParallelism } from 'node:os';
import { Scheduler } from './scheduler.js';
import { Worker } from './worker.js';
import { Nanny } from './nanny.js';
import { WorkerScaling, type Cluster, type WorkerLauncher } from './cluster.js';
import type { Adaptive, AdaptOptions, AdaptiveStep } from './adaptive.js';
import type { Security } from '../lib/comm/security.js';
import { childLogger } from '../lib/logging.js';
import { parseBytes } from '../lib/units.js';

// `client.cluster` is a LocalCluster (lib/client cannot import this file: it stands below it).
declare module '../lib/client/owned-cluster.js' {
  interface ClusterTypes {
    cluster: LocalCluster;
  }
}

const log = childLogger('local-cluster');

/**
 * Options of `LocalCluster.start(...)`.
 */
export interface LocalClusterOptions {
  /** Workers to start (default 1). */
  nWorkers?: number;
  /** Threads per worker (default: os.availableParallelism() / nWorkers, at least 1). */
  threadsPerWorker?: number;
  /** true: nanny-supervised worker processes over TCP on 127.0.0.1; false (default): threads in this process. */
  processes?: boolean;
  /** Per worker: bytes or a string like '2GB'. */
  memoryLimit?: number | string;
  /** Resources every worker advertises, e.g. `{ GPU: 1 }`. */
  resources?: Record<string, number>;
  /** Where the scheduler serves its dashboard: default a free port on 127.0.0.1 (`':0'`); false: none. */
  dashboardAddress?: string | false;
  /** TLS credentials (e.g. `await Security.temporary()`): with `processes`, every connection is tls://. */
  security?: Security;
}

/** What `LocalCluster.workers` holds: Worker objects in this process, or the nannies of worker processes. */
export type LocalClusterWorkers<Processes extends boolean> = Processes extends true ? Nanny[] : Worker[];

/** How LocalCluster starts one more worker of its kind (for scale and adapt). */
interface WorkerSpec {
  threadsPerWorker: number;
  memoryLimit: number | undefined;
  resources: Record<string, number> | undefined;
}

/**
 * A scheduler and workers on this machine: threads in this process
 * (`processes: false`, the default) or nanny-supervised worker processes over
 * TCP (`processes: true`).
 *
 * @example
 * ```ts
 * await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes: true });
 * await using client = await Client.connect(cluster);
 * ```
 */
export class LocalCluster<Processes extends boolean = boolean> implements Cluster {
  #closing: Promise<void> | undefined;
  readonly #scaling: WorkerScaling<Worker> | WorkerScaling<Nanny>;

  private constructor(
    readonly scheduler: Scheduler,
    private readonly threadWorkers: Worker[],
    /** The nannies of the worker processes (`processes: true`; empty without). */
    readonly nannies: Nanny[] = [],
    readonly processes = false,
    spec: WorkerSpec = { threadsPerWorker: 1, memoryLimit: undefined, resources: undefined },
  ) {
    const common = {
      nthreads: spec.threadsPerWorker,
      ...(spec.memoryLimit !== undefined ? { memoryLimit: spec.memoryLimit } : {}),
      ...(spec.resources !== undefined ? { resources: spec.resources } : {}),
    };
    const address = (): string => scheduler.inprocAddress ?? scheduler.address;
    if (processes) {
      const launcher: WorkerLauncher<Nanny> = {
        threadsPerWorker: spec.threadsPerWorker,
        start: (name) => Nanny.start(scheduler.address, { ...common, name, host: '127.0.0.1' }),
        idOf: (nanny) => nanny.workerAddress,
        alive: (nanny) => nanny.status !== 'closing' && nanny.status !== 'closed',
        stop: (nanny) => nanny.close('retired'),
      };
      this.#scaling = new WorkerScaling(launcher, nannies, address, 'local-');
    } else {
      const launcher: WorkerLauncher<Worker> = {
        threadsPerWorker: spec.threadsPerWorker,
        start: async (name) => {
          const worker = await Worker.start(scheduler.address, { ...common, name });
          // A cluster that lets the process exit (letProcessExit) does so with every worker it adds.
          if (!scheduler.keepsProcessAlive) worker.keepsProcessAlive = false;
          return worker;
        },
        idOf: (worker) => worker.address,
        alive: (worker) => worker.status !== 'closing' && worker.status !== 'closed',
        stop: (worker) => worker.close(),
      };
      this.#scaling = new WorkerScaling(launcher, threadWorkers, address, 'local-');
      scheduler.inProcessWorkers = {
        owns: (workerAddress) => threadWorkers.some((worker) => worker.address === workerAddress),
        // client.restart(): a fresh Worker (new thread pool, nothing stored) under the same name, in the same slot.
        restart: async (workerAddress) => {
          const old = threadWorkers.find((worker) => worker.address === workerAddress);
          if (old === undefined) return;
          await old.close();
          const fresh = await launcher.start(old.name);
          const at = threadWorkers.indexOf(old);
          if (at >= 0) threadWorkers[at] = fresh;
          else threadWorkers.push(fresh);
        },
      };
    }
  }

  /**
   * The workers: with `processes: false` the Worker objects in this process,
   * with `processes: true` the nannies supervising the worker processes (as
   * dask's `LocalCluster.workers`).
   */
  get workers(): LocalClusterWorkers<Processes> {
    return (this.processes ? this.nannies : this.threadWorkers) as LocalClusterWorkers<Processes>;
  }

  /** The current workers' addresses, in either mode (a restarted process has a new address). */
  get workerAddresses(): string[] {
    if (!this.processes) return this.threadWorkers.map((worker) => worker.address);
    return this.nannies.map((nanny) => nanny.workerAddress).filter((address): address is string => address !== undefined);
  }

  static start(options: LocalClusterOptions & { processes: true }): Promise<LocalCluster<true>>;
  static start(options?: LocalClusterOptions & { processes?: false }): Promise<LocalCluster<false>>;
  static start(options?: LocalClusterOptions): Promise<LocalCluster>;
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const nWorkers = options.nWorkers ?? 1;
    if (!(Number.isInteger(nWorkers) && nWorkers >= 0)) {
      throw new TypeError(`nWorkers must be a non-negative integer, got ${String(options.nWorkers)}`);
    }
    const threadsPerWorker = options.threadsPerWorker ?? Math.max(1, Math.floor(availableParallelism() / Math.max(1, nWorkers)));
    if (!(Number.isInteger(threadsPerWorker) && threadsPerWorker >= 1)) {
      throw new TypeError(`threadsPerWorker must be a positive integer, got ${String(options.threadsPerWorker)}`);
    }
    const memoryLimit = options.memoryLimit === undefined ? undefined : parseBytes(options.memoryLimit);
    if (options.processes === true) return LocalCluster.startProcesses(nWorkers, threadsPerWorker, memoryLimit, options);

    const scheduler = await Scheduler.start({
      address: 'inproc://',
      dashboardAddress: options.dashboardAddress ?? ':0',
      ...(options.security !== undefined ? { security: options.security } : {}),
    });
    const workers: Worker[] = [];
    try {
      const started = await Promise.allSettled(
        Array.from({ length: nWorkers }, (_, i) =>
          Worker.start(scheduler.address, {
            nthreads: threadsPerWorker,
            name: `local-${i}`,
            ...(memoryLimit !== undefined ? { memoryLimit } : {}),
            ...(options.resources !== undefined ? { resources: options.resources } : {}),
            ...(options.security !== undefined ? { security: options.security } : {}),
          }),
        ),
      );
      for (const outcome of started) if (outcome.status === 'fulfilled') workers.push(outcome.value);
      const failed = started.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } catch (error) {
      await Promise.allSettled(workers.map((worker) => worker.close()));
      await scheduler.close();
      throw error;
    }
    log.debug({ scheduler: scheduler.address, workers: workers.length, threadsPerWorker }, 'local cluster started');
    return new LocalCluster(scheduler, workers, [], false, { threadsPerWorker, memoryLimit, resources: options.resources });
  }

  private static async startProcesses(
    nWorkers: number,
    threadsPerWorker: number,
    memoryLimit: number | undefined,
    options: LocalClusterOptions,
  ): Promise<LocalCluster> {
    const scheduler = await Scheduler.start({
      host: '127.0.0.1',
      port: 0,
      inproc: true,
      dashboardAddress: options.dashboardAddress ?? ':0',
      ...(options.security !== undefined ? { security: options.security } : {}),
    });
    const nannies: Nanny[] = [];
    try {
      const started = await Promise.allSettled(
        Array.from({ length: nWorkers }, (_, i) =>
          Nanny.start(scheduler.address, {
            nthreads: threadsPerWorker,
            name: `local-${i}`,
            host: '127.0.0.1',
            ...(memoryLimit !== undefined ? { memoryLimit } : {}),
            ...(options.resources !== undefined ? { resources: options.resources } : {}),
            ...(options.security !== undefined ? { security: options.security } : {}),
          }),
        ),
      );
      for (const outcome of started) if (outcome.status === 'fulfilled') nannies.push(outcome.value);
      const failed = started.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    } catch (error) {
      await Promise.allSettled(nannies.map((nanny) => nanny.close('local cluster failed to start')));
      await scheduler.close();
      throw error;
    }
    log.debug({ scheduler: scheduler.address, workers: nannies.length, threadsPerWorker }, 'local cluster of processes started');
    return new LocalCluster(scheduler, [], nannies, true, { threadsPerWorker, memoryLimit, resources: options.resources });
  }

  /**
   * The open cluster no longer keeps the process alive by itself: a Client
   * that started it does so while it waits for something, so a script that
   * forgets `client.close()` still ends (as a piscina pool with idleTimeout
   * lets a script end). In-process workers only.
   */
  letProcessExit(): void {
    this.scheduler.keepsProcessAlive = false;
    this.scheduler.dashboardServer?.setRef(false);
    for (const worker of this.threadWorkers) worker.keepsProcessAlive = false;
  }

  get schedulerAddress(): string {
    return this.scheduler.address;
  }

  /** The dashboard's base URL (`http://host:port`); undefined with `dashboardAddress: false`. */
  get dashboardAddress(): string | undefined {
    return this.scheduler.dashboardAddress;
  }

  /** Where a client in this program connects (Client.connect(cluster) does): in-process, never over TCP. */
  get inprocAddress(): string | undefined {
    return this.scheduler.inprocAddress;
  }

  /** The dashboard's status page; undefined with `dashboardAddress: false`. */
  get dashboardLink(): string | undefined {
    const base = this.scheduler.dashboardAddress;
    return base === undefined ? undefined : `${base}/status`;
  }

  /**
   * Starts workers, or retires some gracefully (idle ones holding the least
   * first; their data moves to the others before they close), until there are `n`.
   */
  scale(n: number): Promise<void> {
    return this.#scaling.scale(n);
  }

  /**
   * Scales with the work the scheduler sees, as dask's `Adaptive`: more
   * workers while tasks wait, idle ones retired after `wait`. Replaces a
   * previous adapt; `stop()` the returned loop to end it.
   */
  adapt(options: AdaptOptions & { onStep?: (step: AdaptiveStep) => void } = {}): Adaptive {
    return this.#scaling.adapt(options);
  }

  /** Closes the workers (with processes: the nannies and their processes), then the scheduler. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#scaling.close();
      await Promise.allSettled(this.nannies.map((nanny) => nanny.close('local cluster closing')));
      await Promise.allSettled(this.threadWorkers.map((worker) => worker.close()));
      await this.scheduler.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  toString(): string {
    return `<LocalCluster: scheduler=${this.schedulerAddress} workers=${this.workers.length}>`;
  }
}
