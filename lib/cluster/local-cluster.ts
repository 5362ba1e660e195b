/**
 * A scheduler and workers started together, for one machine. With
 * `processes: false` (the only mode so far) everything runs in this process:
 * the actors talk over inproc:// MessagePorts and each worker runs its tasks
 * on its own piscina thread pool.
 */
import { availableParallelism } from 'node:os';
import { Scheduler } from '../../actors/scheduler.js';
import { Worker } from '../../actors/worker.js';
import { childLogger } from '../logging.js';
import { parseBytes } from '../units.js';

const log = childLogger('local-cluster');

export interface LocalClusterOptions {
  /** Workers to start (default 1). */
  nWorkers?: number;
  /** Threads per worker (default: os.availableParallelism() / nWorkers, at least 1). */
  threadsPerWorker?: number;
  /** true: nanny-supervised worker processes (not available yet); false (default): threads in this process. */
  processes?: boolean;
  /** Per worker: bytes or a string like '2GB'. */
  memoryLimit?: number | string;
  /** Resources every worker advertises, e.g. `{ GPU: 1 }`. */
  resources?: Record<string, number>;
  /** Where the scheduler serves its dashboard (when the scheduler has one). */
  dashboardAddress?: string;
}

export class LocalCluster implements AsyncDisposable {
  #closing: Promise<void> | undefined;

  private constructor(
    readonly scheduler: Scheduler,
    readonly workers: Worker[],
  ) {}

  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const nWorkers = options.nWorkers ?? 1;
    if (!(Number.isInteger(nWorkers) && nWorkers >= 0)) {
      throw new TypeError(`nWorkers must be a non-negative integer, got ${String(options.nWorkers)}`);
    }
    const threadsPerWorker = options.threadsPerWorker ?? Math.max(1, Math.floor(availableParallelism() / Math.max(1, nWorkers)));
    if (!(Number.isInteger(threadsPerWorker) && threadsPerWorker >= 1)) {
      throw new TypeError(`threadsPerWorker must be a positive integer, got ${String(options.threadsPerWorker)}`);
    }
    if (options.processes === true) {
      throw new Error('LocalCluster: processes: true is not available yet; use processes: false (workers as threads in this process)');
    }
    const memoryLimit = options.memoryLimit === undefined ? undefined : parseBytes(options.memoryLimit);

    const scheduler = await Scheduler.start({
      address: 'inproc://',
      ...(options.dashboardAddress !== undefined ? { dashboardAddress: options.dashboardAddress } : {}),
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
    return new LocalCluster(scheduler, workers);
  }

  get schedulerAddress(): string {
    return this.scheduler.address;
  }

  /** Closes the workers, then the scheduler. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled(this.workers.map((worker) => worker.close()));
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
