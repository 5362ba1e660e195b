/**
 * The Worker: a mailbox actor that holds data and runs tasks on a thread pool
 * (dask's `distributed.worker.Worker`). It moves messages and nothing else:
 * every decision is made by the pure WorkerState (lib/worker/worker-state.ts);
 * this shell turns scheduler messages and finished I/O into WorkerState
 * events, and carries out the instructions that come back — send to the
 * scheduler, run a batch on the pool, fetch keys from a peer, retry later.
 *
 * Its own lifecycle (starting/running/paused/closing/closed) is one xstate
 * actor, machines/worker-process.ts.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Actor } from 'xstate';
import { adoptServerSecurity } from '../lib/comm/program-security.js';
import { addressScheme } from '../lib/comm/registry.js';
import type { Security } from '../lib/comm/security.js';
import { socketAddress } from '../lib/comm/socket-scheme.js';
import { nextTurn, turnOver } from '../lib/comm/turn-budget.js';
import { ShardedMap } from '../lib/sharded-map.js';
import { serializeError } from '../lib/protocol/errors.js';
import type {
  RunReply,
  HeldBlob,
  FunctionRef,
  GetDataMsg,
  OpDict,
  RegisterWorkerMsg,
  RegisterWorkerReply,
  RunMsg,
  SerializedError,
  UpdateDataMsg,
  WorkerInbox,
} from '../lib/protocol/messages.js';
import { decodeValue, encodeValue, FrameParts } from '../lib/protocol/values.js';
import { CommClosedError, DistributedError, ProtocolError, SerializationError, TimeoutError, TlsHandshakeError } from '../lib/errors.js';
import { loadFunction } from '../lib/task-function.js';
import { parseDuration } from '../lib/units.js';
import { checkUploadName, holdUploads, writeUpload } from '../lib/uploads.js';
import type { TaskToRun } from '../lib/worker/execute.js';
import { ThreadPool } from '../lib/worker/pool.js';
import { ActorHost } from '../lib/worker/actor-host.js';
import { runInTask } from '../lib/task-context.js';
import { WorkerTaskHost } from '../lib/worker/task-host.js';
import { outcomeEvent, type Instruction, type WorkerEvent } from '../lib/worker/state-events.js';
import { WorkerState } from '../lib/worker/worker-state.js';
import { WorkerPluginHost, type WorkerPlugin } from '../lib/worker/plugins.js';
import { WorkerMetricsMeter } from '../lib/worker/worker-metrics.js';
import { SpillBuffer } from '../lib/worker/spill-buffer.js';
import { RecyclingStore } from '../lib/worker/recycling-store.js';
import { resolveMemoryLimit, watchMemory } from '../lib/worker/memory-monitor.js';
import { ProcessMemory } from '../lib/worker/process-memory.js';
import { memoryFractions, thresholds, type MemoryFractions, type MemoryThresholds } from '../lib/worker/spill-policy.js';
import type { WorkerMemoryMetrics } from '../lib/protocol/messages.js';
import { lifecycleState, sendStrict, startLifecycle } from '../machines/lifecycle.js';
import { workerProcessMachine } from '../machines/worker-process.js';
import { installActorProxy } from '../lib/client/actor.js';
import { inboxHandlers, MailboxActor, type Handler, type Peer } from '../lib/comm/mailbox.js';
import type { BackoffPolicy } from '../lib/comm/reconnect-backoff.js';
import { ReconnectCancelled, reconnectWithin } from '../lib/comm/reconnect.js';
import { heldValues, type HeldValues } from '../lib/worker/held-values.js';
import { SchedulerOutbox } from '../lib/worker/scheduler-outbox.js';
import { taskFinished } from '../lib/jit-tiering.js';

/**
 * Options of `Worker.start(schedulerAddress, ...)`.
 */
export interface WorkerOptions {
  /** Threads running tasks (default: the machine's available parallelism). */
  nthreads?: number;
  /** Module URLs each task thread imports before taking work (`--preload`: lib/worker/thread-preload.ts). */
  threadPreload?: readonly string[];
  /** Default: the worker's address. */
  name?: string;
  /** Abstract resources tasks can require, e.g. { GPU: 1 }. */
  resources?: Record<string, number>;
  /** Bytes, a size string ('4GB'), or 'auto' (this worker's share of system memory). Reported to the scheduler. */
  memoryLimit?: number | string;
  /** Where to listen (default: inproc:// for an inproc scheduler, else <the scheduler's scheme>://<host>:0). */
  listenAddress?: string;
  /** Interface for the default TCP listener (default 127.0.0.1). */
  host?: string;
  /** Address of the nanny supervising this worker, if any (reported to the scheduler). */
  nanny?: string;
  /** get_data requests served at once before answering busy (default 10; 1 while paused). */
  transferOutgoingLimit?: number;
  /** One attempt to connect and register (default 10 s). */
  connectTimeout?: number | string;
  /**
   * How long the scheduler may stay unreachable — at start and after losing
   * it — before this worker gives up and closes (default 60 s). Meanwhile it
   * keeps its data and running tasks and retries with a jittered back-off.
   */
  deathTimeout?: number | string;
  /** The retry back-off toward the scheduler (tests shorten it). */
  reconnectBackoff?: Partial<BackoffPolicy>;
  /** How often to send heartbeat_worker (default: what the scheduler asks for at registration, else 500 ms). */
  heartbeatInterval?: number | string;
  /** TLS credentials, for a tls:// scheduler: used on every connection (scheduler, peers, clients) and by the task threads. */
  security?: Security;
  /**
   * With a memoryLimit: fractions of it (dask's worker.memory): `target` (0.6 of
   * managed memory) spills least recently used values to disk, `spill` (0.7 of
   * the process's RSS) spills until back near the target. `pause` and
   * `terminate` are the nanny's (it watches the process). Each may be false.
   */
  memory?: Partial<MemoryFractions>;
  /** Where spilled values go: `<localDirectory>/distributed-ts-worker-<id>/storage` (default the OS temp directory). */
  localDirectory?: string;
  /** How often the spill monitor reads RSS (default 100 ms). */
  memoryMonitorInterval?: number | string;
}

/** The scheduler answered register-worker with a refusal (a duplicate name, say): retrying will not help. */
export class RegistrationRefusedError extends DistributedError {
  override name = 'RegistrationRefusedError';
}

/** The module each of the worker's threads loads. */
const THREAD_ENTRY = new URL('./worker-thread.js', import.meta.url).href;
/** Longest back-off before asking a busy peer again. */
const MAX_BUSY_BACKOFF_MS = 1000;
const FIRST_BUSY_BACKOFF_MS = 20;
const DEFAULT_DEATH_TIMEOUT = '60s';
/** Most an idle pool thread (its isolate and our thread modules) may add to the memory baseline. */
const IDLE_THREAD_ALLOWANCE = 64 * 1024 * 1024;

/**
 * A worker in this process: it runs tasks on its own pool of threads, holds
 * their results and serves them to peers and clients (`dworker --no-nanny`).
 *
 * @example
 * ```ts
 * const worker = await Worker.start('tcp://127.0.0.1:8786', { nthreads: 4, name: 'w1' });
 * await worker.close();
 * ```
 */
export class Worker extends MailboxActor {
  readonly nthreads: number;
  readonly memoryLimit: number | undefined;
  private readonly options: WorkerOptions;
  private readonly lifecycle: Actor<typeof workerProcessMachine>;
  private listenAddressValue = '';
  private nameValue = '';
  private workerState: WorkerState | undefined;
  /** Batches of outcomes deferred to a later turn and not fed yet (feedOutcomes). */
  private outcomesWaiting = 0;
  private pool: ThreadPool | undefined;
  /** secede/rejoin/getClient for tasks, and the threads' links to this worker. */
  private taskHost: WorkerTaskHost | undefined;
  private actors: ActorHost | undefined;
  private scheduler: Peer | undefined;
  private schedulerAddress = '';
  private readonly deathTimeout: number;
  /** Keys executing when this worker re-registered: their results go to the new scheduler as held values. */
  private readonly inheritedRuns = new Set<string>();
  private reconnecting = false;
  /** Messages for the scheduler; those made while it is away wait for the next registration (lib/worker/scheduler-outbox.ts). */
  private readonly toScheduler = new SchedulerOutbox(this.log);
  /** Why the worker closed by itself (undefined: asked to close). */
  closedBecause: string | undefined;
  private readonly peerConnections = new Map<string, Promise<Peer>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private outgoingTransfers = 0;
  /** CPU, memory and transfer figures sent with each heartbeat (the dashboard). */
  private readonly meter = new WorkerMetricsMeter();
  private outgoingReset: NodeJS.Immediate | undefined;
  private readonly transferOutgoingLimit: number;
  /** With a memory limit: the value store that spills to disk, its byte thresholds and monitor. */
  private spillBuffer: SpillBuffer | undefined;
  /** The worker state's value store (over spillBuffer or a Map): recycles large scattered values' buffers. */
  private store: RecyclingStore | undefined;
  private memoryLimits: MemoryThresholds | undefined;
  private memoryTimer: NodeJS.Timeout | undefined;
  /** RSS at start and what grew beyond it: the process memory counted against memoryLimit (process-memory.ts). */
  private processMemory: ProcessMemory | undefined;
  private baselineSettled: Promise<number> | undefined;
  private closingPromise: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private releaseUploads: (() => void) | undefined;
  private resolveFinished!: () => void;
  /** Resolves once the worker has closed (asked to, or by itself after losing the scheduler). */
  readonly finished: Promise<void> = new Promise((resolve) => (this.resolveFinished = resolve));

  /** Worker plugins sent by clients (lib/worker/plugins.ts). */
  readonly plugins = new WorkerPluginHost(this.log, (observer) => {
    if (this.workerState !== undefined) this.workerState.transitionObserver = observer;
  });

  protected readonly handlers: Readonly<Record<string, Handler>> = {
    ...inboxHandlers<WorkerInbox>({
      'compute-task': (msg) => {
        if (typeof msg.key === 'string') this.inheritedRuns.delete(msg.key);
        this.feed(msg);
      },
      'free-keys': (msg) => {
        this.feed(msg);
        this.sweepActors(msg.keys);
      },
      'cancel-compute': (msg) => this.feed(msg),
      'acquire-replicas': (msg) => this.feed(msg),
      'remove-replicas': (msg) => {
        this.feed(msg);
        this.sweepActors(msg.keys);
      },
      'steal-request': (msg) => this.feed(msg),
      close: () => {
        void this.close();
      },
      get_data: (msg) => this.getData(msg),
      update_data: (msg) => this.updateData(msg),
      run: (msg) => this.runFunction(msg),
      actor_execute: (msg) => this.actorHost.execute(msg),
      actor_attribute: (msg) => this.actorHost.attribute(msg),
      story: (msg) => {
        if (typeof msg.key !== 'string') throw new TypeError("story: 'key' must be a string");
        return this.workerState?.story(msg.key) ?? [];
      },
      upload_file: (msg) => {
        if (!(msg.data instanceof Uint8Array)) throw new TypeError('upload_file: data must be bytes');
        // Synchronous on purpose: tasks that arrive after it on the same connection find the file.
        writeUpload(checkUploadName(msg.filename), msg.data);
        return { status: 'OK' };
      },
    }),
    'plugin-add': (msg) => this.addPlugin(msg),
    'plugin-remove': async (msg) => ({ status: 'OK', removed: await this.plugins.remove(String(msg.name), this) }),
    ping: () => 'pong',
  };

  private constructor(nthreads: number, options: WorkerOptions) {
    super('worker', { security: options.security });
    if (options.security !== undefined) adoptServerSecurity(options.security);
    this.options = options;
    this.nthreads = nthreads;
    this.memoryLimit = resolveMemoryLimit(options.memoryLimit, nthreads);
    this.transferOutgoingLimit = options.transferOutgoingLimit ?? 10;
    this.deathTimeout = parseDuration(options.deathTimeout ?? DEFAULT_DEATH_TIMEOUT);
    this.lifecycle = startLifecycle(workerProcessMachine, {
      onError: (error) => this.log.error({ err: error }, 'worker lifecycle failed'),
    });
  }

  /** Listen, connect to the scheduler and register. Resolves once registered. */
  static async start(schedulerAddress: string, options: WorkerOptions = {}): Promise<Worker> {
    // Actor handles among actor-method arguments become proxies here, even without the package root.
    installActorProxy();
    const nthreads = options.nthreads ?? availableParallelism();
    if (!Number.isInteger(nthreads) || nthreads < 1) throw new RangeError(`nthreads must be a positive integer, got ${nthreads}`);
    const worker = new Worker(nthreads, options);
    try {
      await worker.startUp(schedulerAddress);
    } catch (error) {
      // The worker may be closing already (its scheduler connection failed under the start): keep the real error.
      if (worker.status === 'starting') sendStrict(worker.lifecycle, { type: 'start-failed', error });
      await worker.close();
      throw error;
    }
    return worker;
  }

  /** Where peers, the scheduler and clients reach this worker. */
  get address(): string {
    return this.listenAddressValue;
  }

  get name(): string {
    return this.nameValue;
  }

  /** starting | running | paused | closing-gracefully | closing | closed */
  get status(): string {
    return lifecycleState(this.lifecycle);
  }

  /** The task state machine (read-only use: tests, diagnostics). */
  get state(): WorkerState {
    if (this.workerState === undefined) throw new Error('worker not started');
    return this.workerState;
  }

  /** Stop starting tasks and transfers (memory pressure); tells the scheduler. */
  pause(): void {
    if (this.status !== 'running') return;
    sendStrict(this.lifecycle, { type: 'pause' });
    this.feed({ op: 'pause' });
  }

  unpause(): void {
    if (this.status !== 'paused') return;
    sendStrict(this.lifecycle, { type: 'unpause' });
    this.feed({ op: 'unpause' });
  }

  private async startUp(schedulerAddress: string): Promise<void> {
    const schedulerScheme = addressScheme(schedulerAddress);
    const listenAddress =
      this.options.listenAddress ??
      (schedulerScheme === 'inproc' ? 'inproc://' : socketAddress(schedulerScheme === 'tls' ? 'tls' : 'tcp', this.options.host ?? '127.0.0.1', 0));
    // The worker alone consumes its listener's messages, so large scattered values may be read into recycled buffers.
    const listener = await this.listen(listenAddress, { recycleLargeFrames: true });
    this.listenAddressValue = listener.address;
    this.nameValue = this.options.name ?? listener.address;
    this.spillBuffer = this.makeSpillBuffer();
    // Sharded (sharded-map.ts): a million held results must not rehash one Map at once on a shared loop.
    this.store = new RecyclingStore(this.spillBuffer ?? new ShardedMap<HeldBlob>());
    this.workerState = new WorkerState({
      address: listener.address,
      nthreads: this.nthreads,
      ...(this.options.resources === undefined ? {} : { resources: this.options.resources }),
      data: this.store,
    });
    const processMemory = (this.processMemory = new ProcessMemory());
    this.startMemoryMonitor();
    const info = {
      address: listener.address,
      name: this.nameValue,
      nthreads: this.nthreads,
      schedulerAddress,
      pid: process.pid,
    };
    const taskHost = new WorkerTaskHost(info, (event) => this.feed(event));
    this.taskHost = taskHost;
    this.actors = new ActorHost(listener.address, taskHost);
    this.pool = new ThreadPool(this.nthreads, {
      entry: THREAD_ENTRY,
      worker: info,
      onThreadLink: (port) => taskHost.serveThread(port),
      ...(this.options.security?.hasCredentials === true ? { security: this.options.security.toPems() } : {}),
      ...(this.options.threadPreload !== undefined ? { preload: this.options.threadPreload } : {}),
    });
    this.baselineSettled = this.pool.online.then(() => {
      if ((this.spillBuffer?.size ?? 0) === 0) processMemory.rebase(this.nthreads * IDLE_THREAD_ALLOWANCE);
      return processMemory.baseline;
    });
    this.schedulerAddress = schedulerAddress;
    this.releaseUploads = holdUploads();
    // A scheduler that is not up yet (started at the same moment, restarting) is waited for up to deathTimeout.
    await reconnectWithin((left) => this.register(left, undefined), {
      timeoutMs: this.deathTimeout,
      ...(this.options.reconnectBackoff === undefined ? {} : { backoff: this.options.reconnectBackoff }),
      onRetry: (n, error, delayMs) =>
        this.log.warn({ scheduler: schedulerAddress, attempt: n, delayMs, err: error }, `cannot reach the scheduler yet, retrying (${n})`),
      cancelled: () => this.closingPromise !== undefined,
      // Nor is a server that speaks another protocol going to start speaking ours: one clear error.
      retryable: (error) => !(error instanceof RegistrationRefusedError || error instanceof TlsHandshakeError || error instanceof ProtocolError),
    }).catch((error: unknown) => {
      if (error instanceof TimeoutError) {
        throw new TimeoutError(`could not register with the scheduler at ${schedulerAddress} within ${this.deathTimeout} ms: ${error.message}`, { cause: error });
      }
      throw error;
    });
    sendStrict(this.lifecycle, { type: 'started' });
  }

  /**
   * One attempt: connect, send register-worker (with what this worker holds,
   * when it comes back after losing the scheduler) and wait for the answer.
   * Only then does the connection become the scheduler's.
   */
  private async register(timeoutMs: number, held: HeldValues | undefined, away?: { retries: number; awayMs: number }): Promise<void> {
    const timeout = Math.min(timeoutMs, parseDuration(this.options.connectTimeout ?? '10s'));
    const scheduler = await this.connect(this.schedulerAddress, { timeout });
    scheduler.role = 'scheduler';
    const registration: RegisterWorkerMsg = {
      op: 'register-worker',
      address: this.listenAddressValue,
      name: this.nameValue,
      nthreads: this.nthreads,
      pid: process.pid,
      ...(this.options.resources === undefined ? {} : { resources: this.options.resources }),
      ...(this.memoryLimit === undefined ? {} : { memoryLimit: this.memoryLimit }),
      ...(this.options.nanny === undefined ? {} : { nanny: this.options.nanny }),
      ...(held === undefined ? {} : { keys: held.keys, nbytes: held.nbytes, types: held.types }),
      ...(away === undefined ? {} : { away, plugins: this.plugins.names() }),
    };
    let reply: (Partial<RegisterWorkerReply> & { status?: unknown; message?: unknown }) | undefined;
    try {
      reply = await scheduler.call(registration, { timeout });
      if (reply !== undefined && reply !== null && reply.status !== undefined && reply.status !== 'OK') {
        throw new RegistrationRefusedError(`scheduler ${this.schedulerAddress} refused registration: ${String(reply.message ?? reply.status)}`);
      }
    } catch (error) {
      void scheduler.close();
      // A server speaking another protocol: its own error says so, not the closed connection's.
      throw error instanceof CommClosedError && error.cause instanceof ProtocolError ? error.cause : error;
    }
    if (this.closingPromise !== undefined) {
      void scheduler.close();
      throw new ReconnectCancelled('the worker is closing');
    }
    this.scheduler = scheduler;
    const waited = this.toScheduler.connected(scheduler);
    if (waited > 0) this.log.info({ messages: waited }, `sent ${waited} message(s) that waited for the scheduler`);
    clearInterval(this.heartbeatTimer);
    this.startHeartbeats(this.options.heartbeatInterval ?? reply?.heartbeatInterval);
  }

  /**
   * The scheduler went away (killed, restarted, a network cut): keep threads,
   * data and running tasks, and come back with a jittered back-off for
   * deathTimeout; then register what is held. Past deathTimeout, close.
   */
  private async schedulerLost(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    this.scheduler = undefined;
    this.toScheduler.lost();
    clearInterval(this.heartbeatTimer);
    this.log.warn({ scheduler: this.schedulerAddress, deathTimeout: this.deathTimeout }, 'scheduler connection lost, retrying (0)');
    const lostAt = Date.now();
    let retries = 0;
    try {
      await reconnectWithin(
        (left) => {
          const held = this.prepareReregistration();
          // The new scheduler shows how long this took on its dashboard (lib/scheduler/recovery-notes.ts).
          return this.register(left, held, { retries, awayMs: Date.now() - lostAt }).then(() => held);
        },
        {
          timeoutMs: this.deathTimeout,
          ...(this.options.reconnectBackoff === undefined ? {} : { backoff: this.options.reconnectBackoff }),
          onRetry: (n, error, delayMs) => {
            retries = n;
            this.log.warn({ scheduler: this.schedulerAddress, attempt: n, delayMs, reason: (error as Error)?.message }, `scheduler connection lost, retrying (${n})`);
          },
          cancelled: () => this.closingPromise !== undefined,
          // A scheduler in this very process that stopped listening is not coming back: one try only.
          retryable: () => addressScheme(this.schedulerAddress) !== 'inproc',
        },
      ).then((held) => this.reregistered(held));
    } catch (error) {
      if (error instanceof ReconnectCancelled || this.closingPromise !== undefined) return;
      this.log.error(
        { scheduler: this.schedulerAddress, deathTimeout: this.deathTimeout, err: error },
        `the scheduler stayed unreachable for the death timeout (${this.deathTimeout} ms); closing`,
      );
      this.closedBecause = `scheduler ${this.schedulerAddress} unreachable for ${this.deathTimeout} ms`;
      void this.close();
    } finally {
      this.reconnecting = false;
    }
  }

  /**
   * What to tell a new scheduler: the values held here. Work the old
   * scheduler had queued here that has not started is dropped (a client
   * resubmits what it still wants); running tasks finish, and their results
   * are reported as held values too.
   */
  private prepareReregistration(): HeldValues {
    const state = this.state;
    const stale: string[] = [];
    this.inheritedRuns.clear();
    for (const ts of state.tasks.values()) {
      if (ts.state === 'executing' || ts.state === 'long-running') this.inheritedRuns.add(ts.key);
      else if (ts.held && ts.state !== 'memory') stale.push(ts.key);
    }
    if (stale.length > 0) this.feed({ op: 'free-keys', keys: stale, stimulusId: 'scheduler-lost' } as WorkerEvent);
    return heldValues(state);
  }

  private reregistered(held: HeldValues): void {
    this.log.warn({ scheduler: this.schedulerAddress, keys: held.keys.length, running: this.inheritedRuns.size }, `re-registered with ${held.keys.length} keys`);
    // Values that landed while the registration was on its way.
    const reported = new Set(held.keys);
    const late = heldValues(this.state, (key) => !reported.has(key));
    if (late.keys.length > 0) this.toScheduler.send({ op: 'held-keys', ...late });
  }

  private startHeartbeats(interval: number | string | undefined): void {
    const ms = interval === undefined ? 500 : parseDuration(interval);
    if (!(ms > 0 && Number.isFinite(ms))) return;
    this.heartbeatTimer = setInterval(() => {
      const scheduler = this.scheduler;
      if (scheduler === undefined || scheduler.closed) return;
      const state = this.workerState;
      const metrics = this.meter.read(state?.memoryBytes ?? 0, state?.slotsInUse ?? 0);
      scheduler.send({ op: 'heartbeat_worker', address: this.listenAddressValue, metrics: { ...metrics, ...this.spillMetrics() } });
    }, ms);
    this.heartbeatTimer.unref();
  }

  /** With a memory limit: managed (in RAM) and spilled bytes, dask's `memory` / `spilled` figures. */
  private spillMetrics(): Partial<WorkerMemoryMetrics> {
    const counters = this.spillBuffer?.counters();
    if (counters === undefined) return {};
    return {
      managedBytes: counters.memoryBytes,
      spilledBytes: counters.spilledBytes,
      spilledKeys: counters.spilledKeys,
      processBytes: this.processMemory?.counted() ?? process.memoryUsage.rss(),
    };
  }

  /** With a memory limit: a store that spills past the target (spill-buffer.ts). */
  private makeSpillBuffer(): SpillBuffer | undefined {
    if (this.memoryLimit === undefined) return undefined;
    this.memoryLimits = thresholds(this.memoryLimit, memoryFractions(this.options.memory));
    const root = this.options.localDirectory ?? tmpdir();
    const directory = join(root, `distributed-ts-worker-${process.pid}-${randomUUID().slice(0, 8)}`, 'storage');
    return new SpillBuffer(directory, this.memoryLimits, this.log);
  }

  /** Resident bytes of this process when the worker had started (the baseline its memoryLimit is counted above). */
  get memoryBaseline(): number | undefined {
    return this.processMemory?.baseline;
  }

  /** The baseline once measured again with the pool's threads up (process-memory.ts). */
  get memoryBaselineSettled(): Promise<number | undefined> {
    return this.baselineSettled ?? Promise.resolve(this.memoryBaseline);
  }

  /**
   * Every interval: process memory (RSS beyond the baseline) over `spill`
   * moves least recently used values out until it should be back at the
   * target (spill-policy.ts decides how much).
   */
  private startMemoryMonitor(): void {
    const buffer = this.spillBuffer;
    const limits = this.memoryLimits;
    if (buffer === undefined || limits === undefined || limits.spill === undefined) return;
    const ms = parseDuration(this.options.memoryMonitorInterval ?? '100ms');
    this.memoryTimer = watchMemory(buffer, limits, ms, () => this.processMemory?.counted() ?? process.memoryUsage.rss());
  }

  /* ---------------------------------------------------------------- */
  /* events in, instructions out                                       */
  /* ---------------------------------------------------------------- */

  private feed(...events: WorkerEvent[]): void {
    if (this.workerState === undefined || this.closingPromise !== undefined) return;
    const instructions = this.workerState.handle(...events);
    for (const instruction of instructions) this.carryOut(instruction);
  }

  private carryOut(instruction: Instruction): void {
    switch (instruction.kind) {
      case 'send-to-scheduler': {
        const msg = instruction.msg;
        const key = 'key' in msg && typeof msg.key === 'string' ? msg.key : undefined;
        if (this.inheritedRuns.size > 0 && key !== undefined && this.inheritedRuns.delete(key)) {
          // A task the previous scheduler started: the new one learns of its value as a held key.
          if (msg.op === 'task-finished') this.toScheduler.send({ op: 'held-keys', ...heldValues(this.state, (held) => held === key) });
          return;
        }
        this.toScheduler.send(msg);
        if (msg.op === 'task-finished') taskFinished(); // past start-up: hot paths optimized soon (lib/jit-tiering.ts)
        return;
      }
      case 'execute':
        this.execute(instruction.batchId, instruction.batch);
        return;
      case 'gather-dep':
        void this.gatherDep(instruction.worker, instruction.keys);
        return;
      case 'retry-busy-worker-later': {
        const delay = Math.min(MAX_BUSY_BACKOFF_MS, FIRST_BUSY_BACKOFF_MS * 2 ** (instruction.attempt - 1));
        const timer = setTimeout(() => {
          this.retryTimers.delete(timer);
          this.feed({ op: 'retry-busy-worker', worker: instruction.worker });
        }, delay);
        this.retryTimers.add(timer);
        return;
      }
      case 'event-failed':
        this.log.error({ err: instruction.error, op: instruction.op }, 'worker state refused an event');
        return;
      case 'rejoin-granted':
        this.taskHost?.rejoinGranted(instruction.key);
        return;
    }
  }

  private execute(batchId: number, batch: TaskToRun[]): void {
    if (batch.some((task) => task.runSpec.actor === true)) {
      batch = this.createActors(batchId, batch);
      if (batch.length === 0) return;
    }
    this.pool!.run(batch).then(
      (outcomes) => this.feedOutcomes(outcomes.map((outcome) => outcomeEvent(batchId, outcome))),
      (error: unknown) => {
        // The thread died or the pool was destroyed: every task of the batch failed with that.
        const serialized = serializeError(error);
        this.feed(...batch.map((task): WorkerEvent => ({ op: 'execute-failure', key: task.key, batchId, error: serialized, duration: 0 })));
      },
    );
  }

  /**
   * A batch's outcomes, now or, once this thread's turn budget is spent
   * (turn-budget.ts), at a later turn: a pool thread's answer would otherwise
   * start the next round of scheduler and client work in the same turn.
   * Outcomes keep their order (after a deferred batch, the next ones wait too).
   */
  private feedOutcomes(events: WorkerEvent[]): void {
    if (this.outcomesWaiting === 0 && !turnOver()) {
      this.feed(...events);
      return;
    }
    this.outcomesWaiting++;
    nextTurn(() => {
      this.outcomesWaiting--;
      this.feed(...events);
    });
  }

  /** Actor tasks construct their instance here, on the main thread; returns the rest of the batch. */
  private createActors(batchId: number, batch: TaskToRun[]): TaskToRun[] {
    const rest: TaskToRun[] = [];
    for (const task of batch) {
      if (task.runSpec.actor !== true) {
        rest.push(task);
        continue;
      }
      void this.actorHost.create(task).then((outcome) => this.feed(outcomeEvent(batchId, outcome)));
    }
    return rest;
  }

  private get actorHost(): ActorHost {
    if (this.actors === undefined) throw new Error('worker not started');
    return this.actors;
  }

  private sweepActors(keys: unknown): void {
    if (this.actors === undefined || this.actors.size === 0 || !Array.isArray(keys)) return;
    this.actors.sweep(keys as string[], this.state.data);
  }

  private async gatherDep(worker: string, keys: string[]): Promise<void> {
    let event: WorkerEvent;
    try {
      const start = Date.now();
      const peer = await this.peer(worker);
      const reply = await peer.call<{ status: string; data?: Record<string, HeldBlob> }>({ op: 'get_data', keys, who: this.address });
      event =
        reply.status === 'busy'
          ? { op: 'gather-dep-busy', worker, keys }
          : { op: 'gather-dep-success', worker, keys, data: reply.data ?? {}, start, stop: Date.now() };
      if (event.op === 'gather-dep-success') {
        let bytes = 0;
        for (const blob of Object.values(event.data)) bytes += blob.byteLength;
        this.meter.received(bytes);
      }
    } catch (error) {
      this.log.debug({ err: error, worker, keys: keys.length }, 'get_data from peer failed');
      event = { op: 'gather-dep-failure', worker, keys, error: serializeError(error) };
    }
    this.feed(event);
  }

  /** One cached connection per peer; a closed or failed one is dialled again next time. */
  private peer(address: string): Promise<Peer> {
    const cached = this.peerConnections.get(address);
    if (cached !== undefined) return cached;
    const connecting = this.connect(address, { timeout: this.options.connectTimeout ?? '10s' }).then(
      (peer) => {
        peer.role = 'peer';
        return peer;
      },
      (error: unknown) => {
        this.peerConnections.delete(address);
        throw error;
      },
    );
    this.peerConnections.set(address, connecting);
    return connecting;
  }

  protected override onPeerClosed(peer: Peer): void {
    if (peer === this.scheduler) {
      if (this.closingPromise !== undefined) return;
      void this.schedulerLost();
      return;
    }
    if (peer.role === 'peer') {
      const cached = this.peerConnections.get(peer.address);
      if (cached !== undefined) {
        cached.then((p) => { if (p === peer) this.peerConnections.delete(peer.address); }, () => undefined);
      }
    }
  }

  /* ---------------------------------------------------------------- */
  /* RPCs                                                              */
  /* ---------------------------------------------------------------- */

  /**
   * Serves held values. Requests answered within one turn of the event loop
   * count as concurrent; beyond the limit (1 while paused) the answer is busy
   * and the requester retries later.
   */
  private getData(msg: GetDataMsg): { status: 'OK'; data: Record<string, HeldBlob> } | { status: 'busy' } {
    if (!Array.isArray(msg.keys)) throw new TypeError('get_data: keys must be an array of strings');
    const limit = this.status === 'paused' ? 1 : this.transferOutgoingLimit;
    if (this.outgoingTransfers >= limit) return { status: 'busy' };
    this.outgoingTransfers++;
    this.outgoingReset ??= setImmediate(() => {
      this.outgoingReset = undefined;
      this.outgoingTransfers = 0;
    });
    const held = this.store!;
    const data: Record<string, HeldBlob> = {};
    let bytes = 0;
    for (const key of msg.keys) {
      const blob = held.getForSending(key);
      if (blob !== undefined) {
        data[key] = blob;
        bytes += blob.byteLength;
      }
    }
    this.meter.sent(bytes);
    return { status: 'OK', data };
  }

  private updateData(msg: UpdateDataMsg): { nbytes: Record<string, number> } {
    const data = msg.data;
    if (data === null || typeof data !== 'object') throw new TypeError('update_data: data must be an object of key -> bytes');
    const nbytes: Record<string, number> = {};
    for (const key of Object.keys(data)) {
      const blob = data[key];
      if (!(blob instanceof Uint8Array) && !(blob instanceof FrameParts)) throw new TypeError(`update_data: value of ${key} is not bytes`);
      nbytes[key] = blob.byteLength;
    }
    this.store!.claim(Object.values(data));
    this.feed({ op: 'update-data', data });
    return { nbytes };
  }

  /** Constructs a worker plugin sent by a client and sets it up (replacing one of the same name). */
  private async addPlugin(msg: OpDict): Promise<{ status: 'OK' } | { status: 'error'; error: SerializedError }> {
    try {
      if (typeof msg.name !== 'string' || msg.name === '') throw new TypeError('plugin-add: name must be a non-empty string');
      if (!(msg.args instanceof Uint8Array)) throw new TypeError('plugin-add: args must be bytes');
      const cls = await loadFunction(msg.fn as FunctionRef);
      const args = decodeValue(msg.args);
      if (!Array.isArray(args)) throw new SerializationError('plugin-add: arguments must encode an array');
      const host = this.taskHost;
      const construct = (): WorkerPlugin => Reflect.construct(cls, args) as WorkerPlugin;
      const plugin = host === undefined ? construct() : runInTask(host, undefined, construct);
      await this.plugins.add(msg.name, plugin, this);
      return { status: 'OK' };
    } catch (error) {
      this.log.error({ err: error, plugin: msg.name }, 'worker plugin setup failed');
      return { status: 'error', error: serializeError(error) };
    }
  }

  /** Runs a function on this worker's main thread (client.run / broadcast-run). */
  private async runFunction(msg: RunMsg): Promise<RunReply> {
    try {
      const fn = await loadFunction(msg.fn as FunctionRef);
      const args = decodeValue(msg.args);
      if (!Array.isArray(args)) throw new SerializationError('run: arguments must encode an array');
      const host = this.taskHost;
      const value: unknown = await (host === undefined ? fn(...args) : runInTask(host, undefined, () => fn(...args)));
      return { ok: true, value: encodeValue(value) };
    } catch (error) {
      return { ok: false, error: serializeError(error) };
    }
  }

  /* ---------------------------------------------------------------- */
  /* shutdown                                                          */
  /* ---------------------------------------------------------------- */

  /** Closes listeners, comms and the thread pool. Idempotent. */
  override close(): Promise<void> {
    if (this.closingPromise === undefined) {
      if (this.status !== 'closing' && this.status !== 'closed') sendStrict(this.lifecycle, { type: 'close' });
      this.closingPromise = this.shutDown();
    }
    return this.closingPromise;
  }

  private async shutDown(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.memoryTimer);
    const scheduler = this.scheduler;
    if (scheduler !== undefined && !scheduler.closed && this.listenAddressValue !== '') {
      // A clean goodbye: the scheduler reschedules our tasks without counting this as a death.
      await scheduler.call({ op: 'unregister', address: this.listenAddressValue }, { timeout: 1000 }).catch(() => undefined);
    }
    this.toScheduler.clear();
    await this.plugins.teardownAll(this);
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    if (this.outgoingReset !== undefined) clearImmediate(this.outgoingReset);
    try {
      await super.close();
    } finally {
      await this.pool?.destroy();
      this.actors?.clear();
      await this.taskHost?.close().catch((error: unknown) => this.log.debug({ err: error }, 'closing the worker client failed'));
      this.releaseUploads?.();
      try {
        this.spillBuffer?.close();
      } catch (error) {
        this.log.warn({ err: error }, 'removing the spill directory failed');
      }
      if (this.status === 'closing') sendStrict(this.lifecycle, { type: 'closed' });
      this.lifecycle.stop();
      this.resolveFinished();
    }
  }
}
