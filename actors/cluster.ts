/**
 * What every cluster object (LocalCluster, SSHCluster) offers, and the
 * scaling both share: `scale(n)` starts workers or retires some gracefully
 * (through the scheduler's `retire_workers`, so their data moves first), and
 * `adapt()` runs an Adaptive loop that does the same on its own.
 *
 * A cluster supplies a `WorkerLauncher` (how to start and stop one worker of
 * its kind) and keeps its workers in the array it hands to `WorkerScaling`.
 */
import { connectRpc, type RpcChannel } from '../lib/comm/rpc.js';
import type { Security } from '../lib/comm/security.js';
import { DistributedError } from '../lib/errors.js';
import type { OpDict } from '../lib/protocol/messages.js';
import { childLogger } from '../lib/logging.js';
import { Adaptive, type AdaptOptions, type AdaptiveStep } from './adaptive.js';

/**
 * What every cluster object (`LocalCluster`, `SSHCluster`) offers: its scheduler's address, dashboard link, `scale`, `adapt` and `close`.
 */
export interface Cluster extends AsyncDisposable {
  readonly schedulerAddress: string;
  /** The dashboard's status page, when the scheduler serves one. */
  readonly dashboardLink: string | undefined;
  /** Start workers, or retire some gracefully, until there are `n`. */
  scale(n: number): Promise<void>;
  /** Scale with the work the scheduler sees (replaces a previous adapt). */
  adapt(options?: AdaptOptions & { onStep?: (step: AdaptiveStep) => void }): Adaptive;
  close(): Promise<void>;
}

export interface WorkerLauncher<W> {
  /** Starts one worker (with its nanny, where the cluster uses nannies); resolves once it has registered. */
  start(name: string): Promise<W>;
  /** What the scheduler knows it by, its address or its name (undefined while it has none). */
  idOf(worker: W): string | undefined;
  /** False once the worker is closing or gone (retired by hand with client.retireWorkers, or died for good). */
  alive(worker: W): boolean;
  /** Closes a worker that the scheduler would not retire (or that never registered). */
  stop(worker: W): Promise<void>;
  readonly threadsPerWorker: number;
}

const log = childLogger('cluster-scaling');

export class WorkerScaling<W> {
  #scheduler: Promise<RpcChannel> | undefined;
  #starting = 0;
  #nextName: number;
  #queue: Promise<unknown> = Promise.resolve();
  #adaptive: Adaptive | undefined;
  #closed = false;

  constructor(
    private readonly launcher: WorkerLauncher<W>,
    /** The cluster's own list: started workers are pushed here, retired ones taken out. */
    readonly workers: W[],
    private readonly schedulerAddress: () => string,
    private readonly namePrefix: string,
    /** The credentials of the cluster's own scheduler connection (tls://). */
    private readonly security?: Security,
  ) {
    this.#nextName = workers.length;
  }

  /** Workers started or starting (workers found gone are dropped from the list first). */
  get planned(): number {
    for (let i = this.workers.length - 1; i >= 0; i--) if (!this.launcher.alive(this.workers[i]!)) this.workers.splice(i, 1);
    return this.workers.length + this.#starting;
  }

  get adaptive(): Adaptive | undefined {
    return this.#adaptive;
  }

  schedulerCall<T>(msg: OpDict, timeout: number | string = '150s'): Promise<T> {
    this.#scheduler ??= connectRpc(this.schedulerAddress(), { timeout: '10s', ...(this.security === undefined ? {} : { security: this.security }) });
    return this.#scheduler.then(
      (channel) => channel.call<T>(msg, { timeout }),
      (error: unknown) => {
        this.#scheduler = undefined;
        throw error;
      },
    );
  }

  /** Start or retire workers until there are `n`. Calls run one after another. */
  scale(n: number): Promise<void> {
    if (!(Number.isInteger(n) && n >= 0)) return Promise.reject(new TypeError(`scale: n must be a non-negative integer, got ${String(n)}`));
    return this.#serial(async () => {
      if (n > this.planned) await this.#startMore(n - this.planned);
      else if (n < this.planned) {
        const excess = this.planned - n;
        // Idle workers holding the least first; then any others (retirement lets their tasks finish).
        const idle = await this.schedulerCall<string[]>({ op: 'workers_to_close', n: excess });
        const others = this.workers.map((w) => this.launcher.idOf(w)).filter((a): a is string => a !== undefined && !idle.includes(a));
        await this.#retire([...idle, ...others].slice(0, excess));
      }
    });
  }

  /** Start workers until `n` are planned (the adaptive loop's scale-up). */
  scaleUp(n: number): Promise<void> {
    return this.#serial(async () => {
      if (n > this.planned) await this.#startMore(n - this.planned);
    });
  }

  /** Retire these workers gracefully (the adaptive loop's scale-down). */
  retire(addresses: readonly string[]): Promise<void> {
    return this.#serial(() => this.#retire(addresses));
  }

  adapt(options: AdaptOptions & { onStep?: (step: AdaptiveStep) => void } = {}): Adaptive {
    if (this.#closed) throw new DistributedError('the cluster is closed');
    const { onStep, ...adaptOptions } = options;
    void this.#adaptive?.stop();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.#adaptive = new Adaptive(
      {
        get planned() {
          return self.planned;
        },
        threadsPerWorker: this.launcher.threadsPerWorker,
        schedulerCall: (msg) => this.schedulerCall(msg),
        scaleUp: (n) => this.scaleUp(n),
        retire: (addresses) => this.retire(addresses),
      },
      adaptOptions,
      onStep,
    );
    return this.#adaptive;
  }

  /** Stops adapting and drops the scheduler connection (the cluster closes its workers itself). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#adaptive?.stop();
    await this.#queue.catch(() => undefined);
    const channel = await this.#scheduler?.catch(() => undefined);
    await channel?.close();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closed) throw new DistributedError('the cluster is closed');
      return fn();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #startMore(count: number): Promise<void> {
    this.#starting += count;
    // Past every worker already there (a cluster may add its first ones after constructing this).
    this.#nextName = Math.max(this.#nextName, this.workers.length);
    const names = Array.from({ length: count }, () => `${this.namePrefix}${this.#nextName++}`);
    const started = await Promise.allSettled(
      names.map((name) =>
        this.launcher.start(name).then((worker) => {
          this.workers.push(worker);
          return worker;
        }).finally(() => {
          this.#starting -= 1;
        }),
      ),
    );
    const failed = started.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    log.debug({ started: count, workers: this.workers.length }, 'workers started');
  }

  async #retire(addresses: readonly string[]): Promise<void> {
    if (addresses.length === 0) return;
    // Ids now: a worker whose nanny the scheduler closes has no address afterwards.
    const byId = new Map<string, W>();
    for (const worker of this.workers) {
      const id = this.launcher.idOf(worker);
      if (id !== undefined) byId.set(id, worker);
    }
    const reply = await this.schedulerCall<{ retired: Record<string, { name?: string }>; notRetired: Record<string, string> }>({
      op: 'retire_workers',
      workers: [...addresses],
    });
    const leaving = Object.entries(reply.retired)
      .map(([address, summary]) => byId.get(address) ?? (summary.name === undefined ? undefined : byId.get(summary.name)))
      .filter((w): w is W => w !== undefined);
    for (const worker of leaving) this.workers.splice(this.workers.indexOf(worker), 1);
    // The scheduler closed them (through their nannies); make sure nothing of them is left here.
    await Promise.allSettled(leaving.map((worker) => this.launcher.stop(worker)));
    for (const [address, reason] of Object.entries(reply.notRetired)) log.warn({ worker: address, reason }, 'worker not retired');
  }
}
