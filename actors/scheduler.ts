/**
 * The Scheduler: a mailbox actor around the pure SchedulerState
 * (lib/scheduler/state.ts). Each handler decodes an op, calls one stimulus on
 * the state and sends the messages it returns to the matching peers (clients by
 * id, workers by address). The only work done here is I/O: gathering values
 * from workers, placing scattered data, running functions on workers, and the
 * work-stealing timer.
 */
import { randomUUID } from 'node:crypto';
import type { Listener } from '../lib/comm/comm.js';
import { DistributedError, TimeoutError } from '../lib/errors.js';
import { deserializeError, serializeError } from '../lib/protocol/errors.js';
import type {
  GatherReply,
  RunReply,
  AddKeysMsg,
  Blob,
  FunctionRef,
  GraphTask,
  LongRunningMsg,
  MissingDataMsg,
  OpDict,
  RegisterWorkerMsg,
  RegisterWorkerReply,
  ReleaseWorkerDataMsg,
  RescheduleMsg,
  SerializedError,
  StealResponseMsg,
  TaskErredFromWorkerMsg,
  TaskFinishedMsg,
  WorkerStatus,
} from '../lib/protocol/messages.js';
import { FIRE_AND_FORGET, PUBLISHED_PREFIX, isPseudoClient } from '../lib/scheduler/records.js';
import { parseHeldReport } from '../lib/scheduler/held-report.js';
import { createRecovery, type Dataset, type Recovery, type RecoveryHost } from './scheduler/recovery.js';
import { SchedulerState, type PlacedData, type SchedulerMessages, type SchedulerStateOptions, type SettledKey } from '../lib/scheduler/state.js';
import { parseDuration } from '../lib/units.js';
import { createCoordinationExtension, type CoordinationExtension, type SchedulerExtension } from '../lib/coordination/extension.js';
import { WorkerHeartbeats } from '../lib/scheduler/worker-heartbeats.js';
import { acquired, acquisitionsOf, planRebalance, planReplicate, type Acquisition } from '../lib/scheduler/data-movement.js';
import { checkUploadName } from '../lib/uploads.js';
import { DIRECT_TRANSFER_MIN_BYTES, isDirectlyReachable, placeByPlan } from '../lib/protocol/direct-transfer.js';
import { DashboardServer, type DashboardSources } from '../lib/scheduler/dashboard-server.js';
import {
  dashboardSnapshot,
  graphSnapshot,
  heartbeatMetrics,
  workerInfo,
  type DashboardSnapshot,
  type WorkerHeartbeatMetrics,
} from '../lib/scheduler/dashboard-snapshot.js';
import { runOnScheduler } from './run-on-scheduler.js';
import { adoptServerSecurity } from '../lib/comm/program-security.js';
import type { Security } from '../lib/comm/security.js';
import { socketAddress, socketHost, socketScheme } from '../lib/comm/socket-scheme.js';
import { PluginHost, schedulerView, type SchedulerPlugin } from '../lib/scheduler/plugins.js';
import { ALL_TOPIC, createEventsExtension, TASKS_TOPIC, WORKERS_TOPIC } from '../lib/scheduler/events.js';
import {
  clientReconnectedEvent, parseReconnectReport, RECOVERY_TOPIC, recoveryNotes, stateLostEvent, workerReregisteredEvent,
} from '../lib/scheduler/recovery-notes.js';
import { TaskStream } from '../lib/scheduler/task-stream.js';
import { createWorkerPluginsExtension } from '../lib/scheduler/worker-plugins.js';
import { createStoryExtension } from '../lib/scheduler/story.js';
import { MailboxActor, type Handler, type Peer } from '../lib/comm/mailbox.js';
import { createRetirementExtension, type RetirementExtension, type RetirementHost } from './scheduler/retirement.js';
import { createAdaptiveExtension } from './scheduler/adaptive.js';
import { createClientGrace, type ClientGrace, type ClientGraceHost } from './scheduler/client-grace.js';

export interface SchedulerOptions {
  /** Full listen address, e.g. 'inproc://' (in-process clusters) or 'tcp://0.0.0.0:8786'. Overrides host/port. */
  address?: string;
  /** Interface for TCP (default 127.0.0.1). */
  host?: string;
  /** TCP port (default 8786; 0 picks a free one). */
  port?: number;
  /**
   * Serve the dashboard (status page, JSON, Prometheus metrics) over HTTP at
   * `[HOST]:PORT`, e.g. ':8787' (an empty host: the scheduler's own, or
   * 127.0.0.1 for in-process schedulers; port 0: any free port).
   */
  dashboardAddress?: string | false;
  /** When the dashboard's port is taken, serve it on a free port instead (with a warning) rather than fail. */
  dashboardFallback?: boolean;
  /**
   * Also accept connections from this thread over in-process comms (an
   * `inproc://` address, `inprocAddress`): a Client in the scheduler's own
   * program then skips TCP, while workers in other processes use `address`.
   */
  inproc?: boolean;
  /** Unexpected worker deaths a task survives before it errs with KilledWorker (default 3). */
  allowedFailures?: number;
  /** How often to look for work to steal while some worker is idle (default 100 ms; 0 disables stealing). */
  stealingInterval?: number | string;
  /** Check every state invariant after each event (slow; for tests). */
  validate?: boolean;
  /** How often workers send heartbeat_worker (default 500 ms). */
  heartbeatInterval?: number | string;
  /** A worker silent this long is removed (restarted through its nanny, if it has one). Default max(5 s, 10 heartbeats); 0 disables. */
  workerTtl?: number | string;
  /** How long client.restart() waits for the workers to come back (default 30 s). */
  restartTimeout?: number | string;
  /**
   * Let clients over the network run code here (`client.runOnScheduler`);
   * default false: only clients in this process may (`--allow-run-on-scheduler`).
   */
  allowRunOnScheduler?: boolean;
  /**
   * Values workers bring back after this scheduler (re)started that no client
   * has claimed are kept this long for their clients to reconnect (default 60 s).
   */
  heldOverTtl?: number | string;
  /**
   * Keep Lock/Semaphore leases, Queue items, Variables, Events and published
   * datasets in an LMDB store in this directory, and restore them on start.
   * Without it they live in memory only and a restart loses them.
   */
  stateDir?: string;
  /**
   * How long, at most, the futures, leases and topic subscriptions of a client
   * whose connection dropped (without close-client) are kept for it to
   * reconnect (actors/scheduler/client-grace.ts). Default: as long as the
   * client says it will try (its reconnectTimeout, 60 s unless set; 0 for
   * clients that do not reconnect); 0 releases at once.
   */
  clientGrace?: number | string;
  /** TLS credentials: the scheduler then listens on tls:// (mutual TLS) instead of tcp://. */
  security?: Security;
  /** Scheduler plugins, started (their `start` awaited) before `Scheduler.start` resolves. */
  plugins?: SchedulerPlugin[];
}

export type SchedulerRole = { kind: 'client'; id: string } | { kind: 'worker'; address: string };

interface KeyWaiter {
  resolve: (entry: SettledKey) => void;
}

interface WorkerCountWaiter {
  n: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_PORT = 8786;
/** get_data answered `busy`: ask again after this, doubling, a few times. */
const BUSY_RETRY_MS = 20;
const BUSY_RETRIES = 6;
/** replicate/rebalance: how long the recipients may take to fetch, and how often to look. */
const DATA_MOVE_TIMEOUT_MS = 60_000;
const DATA_MOVE_POLL_MS = 10;
const NANNY_CALL_TIMEOUT = '30s';

function requireString(value: unknown, field: string, op: string): string {
  if (typeof value !== 'string' || value === '') throw new DistributedError(`${op}: ${field} must be a non-empty string`);
  return value;
}

function requireKeys(value: unknown, op: string): string[] {
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) throw new DistributedError(`${op}: keys must be an array of strings`);
  return value as string[];
}

function optionalStrings(value: unknown, field: string, op: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) throw new DistributedError(`${op}: ${field} must be an array of strings`);
  return value as string[];
}

function isBlob(value: unknown): value is Blob {
  return value instanceof Uint8Array;
}

/** Workers running in the scheduler's own process, which their owner (a LocalCluster) can replace. */
export interface InProcessWorkers {
  owns(address: string): boolean;
  /** Closes the worker and starts a fresh one in its place; resolves once it is registered. */
  restart(address: string): Promise<void>;
}

/**
 * The scheduler as an object, for embedding in a Node service (what
 * `dscheduler` runs): it tracks tasks, workers and clients and decides where
 * each task runs.
 *
 * @example
 * ```ts
 * const scheduler = await Scheduler.start({ port: 8786, dashboardAddress: ':8787' });
 * console.log(scheduler.address);          // tcp://127.0.0.1:8786
 * await scheduler.close();
 * ```
 */
export class Scheduler extends MailboxActor {
  /** @internal Set by a LocalCluster of threads: client.restart() replaces these workers in place. */
  inProcessWorkers: InProcessWorkers | undefined;
  /** Clients over the network may use run_on_scheduler (in-process ones always may). */
  private readonly allowRunOnScheduler: boolean;
  readonly id = `Scheduler-${randomUUID()}`;
  /** The pure state (read it for inspection; change it only through messages). */
  readonly state: SchedulerState;
  private listener: Listener | undefined;
  private inprocListener: Listener | undefined;
  private dashboard: DashboardServer | undefined;

  /** @internal The dashboard's HTTP server, if any (LocalCluster.letProcessExit unrefs it). */
  get dashboardServer(): DashboardServer | undefined {
    return this.dashboard;
  }
  private readonly startedAt = performance.now();
  /** Scheduler plugins (lib/scheduler/plugins.ts): told of graphs, transitions, workers and clients. */
  readonly plugins: PluginHost;
  private readonly clientPeers = new Map<string, Peer>();
  private readonly workerPeers = new Map<string, Peer>();
  private readonly keyWaiters = new Map<string, KeyWaiter[]>();
  private readonly workerCountWaiters = new Set<WorkerCountWaiter>();
  private readonly datasets = new Map<string, Dataset>();
  private readonly stealingTimer: NodeJS.Timeout | undefined;
  private closingPromise: Promise<void> | undefined;
  private readonly heartbeats: WorkerHeartbeats;
  private readonly restartTimeout: number;
  private restarting = false;
  /** Files from client.uploadFile, given to every worker that registers. */
  private readonly uploads = new Map<string, Blob>();
  /** Lock, Semaphore, Event, Queue and Variable live here; their keys are held through pseudo-clients. */
  private readonly coordination: CoordinationExtension = createCoordinationExtension({
    now: Date.now,
    desireKey: (client, key) => {
      // a real client that already left must not be resurrected as a holder
      if (!isPseudoClient(client) && !this.clientPeers.has(client)) return;
      if (!this.state.tasks.has(key) && isPseudoClient(client)) {
        // Restored from the store before the workers are back: hold it once a worker brings it.
        this.recovery.awaitHold(key, client);
        return;
      }
      this.sendOut(this.state.clientDesiresKeys(client, [key], this.state.nextStimulusId('coordination-hold')));
    },
    releaseKey: (client, key) => {
      this.sendOut(this.state.clientReleasesKeys(client, [key], this.state.nextStimulusId('coordination-release')));
    },
    setTimer: (ms, fn) => {
      const timer = setTimeout(fn, ms);
      timer.unref();
      return () => clearTimeout(timer);
    },
  });

  /** retire_workers / workers_to_close: graceful retirement (actors/scheduler/retirement.ts). */
  private readonly retirement: RetirementExtension = createRetirementExtension(this.retirementHost());
  /** adaptive_target: what a cluster's Adaptive loop asks (actors/scheduler/adaptive.ts). */
  private readonly adaptive: SchedulerExtension = createAdaptiveExtension(this.adaptiveHost());
  private readonly recoveryOptions = { heldOverTtlMs: 60_000 };
  /** Held-over values, the state dir and what it restores (actors/scheduler/recovery.ts). */
  private readonly recovery: Recovery = createRecovery(this.recoveryHost(), this.recoveryOptions);
  private readonly clientGraceOptions: { capMs: number | undefined } = { capMs: undefined };
  /** Clients whose connection dropped are waited for (actors/scheduler/client-grace.ts). */
  private readonly clientGrace: ClientGrace = createClientGrace(this.clientGraceHost(), this.clientGraceOptions);

  /** Topics of structured events (lib/scheduler/events.ts): logEvent, subscribeTopic, getEvents. */
  readonly events = createEventsExtension({
    now: Date.now,
    sendToClient: (client, msg) => {
      const peer = this.clientPeers.get(client);
      if (peer !== undefined && !peer.closed) peer.send(msg);
    },
    logged: (topic, msg) => this.plugins.logEvent(topic, msg),
  });
  /** What ran where and when, as workers report it (client.getTaskStream, the dashboard). */
  readonly taskStream = new TaskStream();
  /** Each worker's last heartbeat figures (CPU, RSS, transfers), for the dashboard and /metrics. */
  private readonly workerMetrics = new Map<string, WorkerHeartbeatMetrics>();

  /** Worker plugins registered by clients, given to every worker that joins. */
  private readonly workerPlugins = createWorkerPluginsExtension({ workers: () => this.workerPeers });
  /** client.story(key): the scheduler's and every worker's bounded logs of a key (lib/scheduler/story.ts). */
  private readonly story = createStoryExtension({
    story: (key) => this.state.story(key),
    workers: () => this.workerPeers,
    workerSilent: (worker, err) => this.log.debug({ worker, err }, 'story: a worker did not answer'),
  });

  protected readonly handlers: Readonly<Record<string, Handler>> = {
    ...this.coordination.handlers,
    ...this.retirement.handlers,
    ...this.adaptive.handlers,
    ...this.recovery.handlers,
    ...this.clientGrace.handlers,
    ...this.events.handlers,
    ...this.workerPlugins.handlers,
    ...this.story.handlers,
    'get-task-stream': (msg) => this.taskStream.select({ start: msg.start as number | string | undefined, stop: msg.stop as number | string | undefined }),
    // clients
    'register-client': (msg, from) => this.registerClient(msg, from),
    'update-graph': (msg) => this.updateGraph(msg),
    'client-desires-keys': (msg) => {
      const client = requireString(msg.client, 'client', 'client-desires-keys');
      const keys = requireKeys(msg.keys, 'client-desires-keys');
      this.sendOut(this.state.clientDesiresKeys(client, keys, this.stimulus(msg)));
      if (client === FIRE_AND_FORGET) this.recovery.firedAndForgotten(keys);
    },
    'client-releases-keys': (msg) => {
      this.sendOut(this.state.clientReleasesKeys(requireString(msg.client, 'client', 'client-releases-keys'), requireKeys(msg.keys, 'client-releases-keys'), this.stimulus(msg)));
    },
    'cancel-keys': (msg) => {
      this.sendOut(this.state.cancelKeys(requireString(msg.client, 'client', 'cancel-keys'), requireKeys(msg.keys, 'cancel-keys'), msg.force === true, this.stimulus(msg)));
      return 'OK';
    },
    retry: (msg) => {
      this.sendOut(this.state.retry(requireString(msg.client, 'client', 'retry'), requireKeys(msg.keys, 'retry'), this.stimulus(msg)));
      return 'OK';
    },
    'close-client': (msg, from) => this.closeClient(requireString(msg.client, 'client', 'close-client'), from),
    gather: (msg) => this.gather(requireKeys(msg.keys, 'gather'), msg.direct === true),
    scatter: (msg) => this.scatter(msg),
    'scatter-plan': (msg) => this.scatterPlan(msg),
    'scatter-placed': (msg) => this.scatterPlaced(msg),
    who_has: (msg) => this.state.whoHas(optionalStrings(msg.keys, 'keys', 'who_has')),
    has_what: (msg) => this.state.hasWhat(optionalStrings(msg.workers, 'workers', 'has_what')),
    ncores: (msg) => this.state.ncores(optionalStrings(msg.workers, 'workers', 'ncores')),
    identity: () => this.identity(),
    wait_for_workers: (msg) => this.waitForWorkers(msg),
    'broadcast-run': (msg) => this.broadcastRun(msg),
    publish_put: (msg) => this.publishPut(msg),
    publish_get: (msg) => this.publishGet(requireString(msg.name, 'name', 'publish_get')),
    publish_list: () => [...this.datasets.keys()],
    publish_delete: (msg) => this.publishDelete(requireString(msg.name, 'name', 'publish_delete'), msg),
    terminate: () => this.terminate(),
    restart: (msg) => this.restartCluster(msg),
    upload_file: (msg) => this.uploadFile(msg),
    run_on_scheduler: (msg, from) => runOnScheduler(msg, from, this.allowRunOnScheduler),
    replicate: (msg) => this.replicate(msg),
    rebalance: (msg) => this.rebalance(msg),
    // workers
    'register-worker': (msg, from) => this.registerWorker(msg as unknown as RegisterWorkerMsg, from),
    'held-keys': (msg, from) => {
      const w = this.workerOf(from, 'held-keys');
      const held = parseHeldReport(msg, 'held-keys');
      if (w !== undefined && held !== undefined) this.recovery.adoptHeld(w, held, this.stimulus(msg));
    },

    'task-finished': (msg, from) => {
      const w = this.workerOf(from, 'task-finished');
      if (w === undefined) return;
      this.taskStream.task(w, msg as unknown as TaskFinishedMsg, 'OK', Date.now());
      this.sendOut(this.state.taskFinished(w, msg as unknown as TaskFinishedMsg, this.stimulus(msg)));
    },
    'task-erred': (msg, from) => {
      const w = this.workerOf(from, 'task-erred');
      if (w === undefined) return;
      const report = msg as unknown as TaskErredFromWorkerMsg;
      this.taskStream.task(w, report, 'error', Date.now());
      this.sendOut(this.state.taskErred(w, report, this.stimulus(msg)));
      this.logEvent([TASKS_TOPIC, ALL_TOPIC], { action: 'task-erred', key: report.key, worker: w, exception: `${report.exception?.name}: ${report.exception?.message}` });
    },
    'missing-data': (msg, from) => {
      const w = this.workerOf(from, 'missing-data');
      if (w !== undefined) this.sendOut(this.state.missingData(w, msg as unknown as MissingDataMsg, this.stimulus(msg)));
    },
    'long-running': (msg, from) => {
      const w = this.workerOf(from, 'long-running');
      if (w !== undefined) this.sendOut(this.state.longRunning(w, msg as unknown as LongRunningMsg, this.stimulus(msg)));
    },
    'steal-response': (msg, from) => {
      const w = this.workerOf(from, 'steal-response');
      if (w !== undefined) this.sendOut(this.state.stealResponse(w, msg as unknown as StealResponseMsg, this.stimulus(msg)));
    },
    reschedule: (msg, from) => {
      const w = this.workerOf(from, 'reschedule');
      if (w !== undefined) this.sendOut(this.state.reschedule(w, msg as unknown as RescheduleMsg, this.stimulus(msg)));
    },
    'release-worker-data': (msg, from) => {
      const w = this.workerOf(from, 'release-worker-data');
      if (w !== undefined) this.sendOut(this.state.releaseWorkerData(w, msg as unknown as ReleaseWorkerDataMsg, this.stimulus(msg)));
    },
    'add-keys': (msg, from) => {
      const w = this.workerOf(from, 'add-keys');
      if (w === undefined) return;
      const keys = requireKeys((msg as unknown as AddKeysMsg).keys, 'add-keys');
      if (msg.transfer !== undefined) this.taskStream.transfer(w, keys, msg.transfer);
      this.sendOut(this.state.addKeys(w, { keys }, this.stimulus(msg)));
    },
    'worker-status-change': (msg, from) => {
      const w = this.workerOf(from, 'worker-status-change');
      // A retiring worker stays closing on our side whatever it says (e.g. 'running' after a pause).
      if (w === undefined || (this.retirement.retiring.has(w) && msg.status !== 'closing')) return;
      this.sendOut(this.state.workerStatusChange(w, msg.status as WorkerStatus, this.stimulus(msg)));
      this.logEvent([WORKERS_TOPIC, ALL_TOPIC], { action: `worker-${String(msg.status)}`, worker: w });
    },
    unregister: (msg, from) => {
      const w = this.workerOf(from, 'unregister');
      if (w !== undefined) this.dropWorker(w, true, this.stimulus(msg));
    },
    heartbeat_worker: (msg, from) => {
      const role = from?.role as SchedulerRole | undefined;
      if (role?.kind === 'worker' && this.workerPeers.get(role.address) === from) {
        this.heartbeats.seen(role.address);
        const metrics = heartbeatMetrics(msg.metrics);
        if (metrics !== undefined) this.workerMetrics.set(role.address, metrics);
        this.state.workerMetrics(role.address, msg.metrics);
      }
      return { status: 'OK' };
    },
    // nannies
    'worker-restart-memory': (msg) => this.workerRestartMemory(msg),
    // our own heartbeat check
    'worker-ttl-expired': (msg, from) => {
      if (from === undefined) this.workerExpired(String(msg.address), Number(msg.silentMs));
    },
    // our own timer
    balance: (msg, from) => {
      if (from === undefined) this.sendOut(this.state.balance(this.stimulus(msg)));
    },
  };

  private constructor(options: SchedulerOptions) {
    super('scheduler', { security: options.security });
    if (options.security !== undefined) adoptServerSecurity(options.security);
    this.allowRunOnScheduler = options.allowRunOnScheduler === true;
    const stateOptions: SchedulerStateOptions = {};
    if (options.allowedFailures !== undefined) stateOptions.allowedFailures = options.allowedFailures;
    if (options.validate !== undefined) stateOptions.validate = options.validate;
    this.state = new SchedulerState(stateOptions);
    this.plugins = new PluginHost(
      this.state,
      schedulerView(this.state, { id: this.id, address: () => this.address }, (topic, msg) => this.logEvent(topic, msg)),
    );
    this.heartbeats = new WorkerHeartbeats({
      ...(options.heartbeatInterval !== undefined ? { interval: options.heartbeatInterval } : {}),
      ...(options.workerTtl !== undefined ? { ttl: options.workerTtl } : {}),
      onExpired: (address, silentMs) => this.post({ op: 'worker-ttl-expired', address, silentMs }),
    });
    this.restartTimeout = parseDuration(options.restartTimeout ?? '30s');
    this.recoveryOptions.heldOverTtlMs = parseDuration(options.heldOverTtl ?? '60s');
    if (options.clientGrace !== undefined) this.clientGraceOptions.capMs = parseDuration(options.clientGrace);
    const interval = parseDuration(options.stealingInterval ?? 100);
    if (interval > 0 && Number.isFinite(interval)) {
      this.stealingTimer = setInterval(() => {
        if (this.state.stealingUseful || this.state.queued.size > 0) this.post({ op: 'balance' });
      }, interval);
      this.stealingTimer.unref();
    }
  }

  /** Starts listening. Default address tcp://127.0.0.1:8786; `address: 'inproc://'` for an in-process cluster. */
  static async start(options: SchedulerOptions = {}): Promise<Scheduler> {
    const address = options.address ?? socketAddress(socketScheme(options.security), options.host ?? '127.0.0.1', options.port ?? DEFAULT_PORT);
    const scheduler = new Scheduler(options);
    try {
      // Restored before the first connection: nobody sees a state without it.
      if (options.stateDir !== undefined) await scheduler.recovery.openStore(options.stateDir);
      else scheduler.log.info('no state dir: coordination primitives and datasets live in memory only and are lost if the scheduler restarts');
      scheduler.listener = await scheduler.listen(address);
      if (options.inproc === true && !address.startsWith('inproc://')) scheduler.inprocListener = await scheduler.listen('inproc://');
    } catch (error) {
      await scheduler.close();
      throw error;
    }
    if (typeof options.dashboardAddress === 'string') {
      try {
        // An empty dashboard host binds where the scheduler was asked to listen (every interface for 0.0.0.0).
        const bindHost = socketHost(address) ?? '127.0.0.1';
        scheduler.dashboard = await DashboardServer.start(options.dashboardAddress, bindHost, scheduler.dashboardSources(), options.dashboardFallback === true);
      } catch (error) {
        await scheduler.close();
        throw error;
      }
    }
    try {
      for (const plugin of options.plugins ?? []) await scheduler.addPlugin(plugin);
    } catch (error) {
      await scheduler.close();
      throw error;
    }
    scheduler.log.debug({ address: scheduler.address }, 'scheduler started');
    return scheduler;
  }

  /** Where clients and workers connect (with the real port when port 0 was asked for). */
  get address(): string {
    return this.listener?.address ?? '';
  }

  /** The dashboard's base URL (`http://host:port`), when `dashboardAddress` was given. */
  get dashboardAddress(): string | undefined {
    return this.dashboard?.url;
  }

  /**
   * Adds a scheduler plugin in this process (its `start` is awaited); a plugin
   * with the same name is closed and replaced. Resolves to the plugin's name.
   */
  addPlugin(plugin: SchedulerPlugin): Promise<string> {
    return this.plugins.add(plugin);
  }

  /** Removes a plugin by name (its `close` is awaited); false when none has that name. */
  removePlugin(name: string): Promise<boolean> {
    return this.plugins.remove(name);
  }

  /** Logs an event on `topic` (or several): kept per topic, sent to subscribed clients, shown to plugins. */
  logEvent(topic: string | string[], msg: unknown): void {
    this.events.log(topic, msg);
  }

  /** What the dashboard shows right now. */
  dashboardSnapshot(): DashboardSnapshot {
    const snapshot = dashboardSnapshot(this.state, { address: this.address, id: this.id, uptimeSeconds: (performance.now() - this.startedAt) / 1000 }, this.workerMetrics);
    snapshot.recovery = recoveryNotes(this.events.get(RECOVERY_TOPIC));
    return snapshot;
  }

  private dashboardSources(): DashboardSources {
    return {
      snapshot: () => this.dashboardSnapshot(),
      identity: () => this.identity(),
      taskStreamSince: (index) => this.taskStream.since(index),
      graph: (max) => graphSnapshot(this.state, max),
      workerInfo: (address) => workerInfo(this.dashboardSnapshot(), this.state, address),
      counters: () => this.taskStream,
    };
  }

  /** Where a client in this thread connects without TCP: `address` itself when that is inproc, else the `inproc` option's listener. */
  get inprocAddress(): string | undefined {
    if (this.address.startsWith('inproc://')) return this.address;
    return this.inprocListener?.address;
  }

  /** Closes the listener and every connection; workers and clients notice their comm closing. Idempotent. */
  override close(): Promise<void> {
    this.closingPromise ??= (async () => {
      if (this.stealingTimer !== undefined) clearInterval(this.stealingTimer);
      this.heartbeats.close();
      this.coordination.close?.();
      this.retirement.close?.();
      this.clientGrace.close();
      const closed = new DistributedError('the scheduler is closing');
      for (const waiter of this.workerCountWaiters) {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
        waiter.reject(closed);
      }
      this.workerCountWaiters.clear();
      await this.dashboard?.close();
      await this.plugins.close();
      for (const [key, waiters] of this.keyWaiters) for (const w of waiters) w.resolve({ key, state: 'forgotten' });
      this.keyWaiters.clear();
      await super.close();
      await this.recovery.close();
    })();
    return this.closingPromise;
  }

  /* ---------------------------------------------------------------- */
  /* plumbing                                                           */
  /* ---------------------------------------------------------------- */

  private stimulus(msg: OpDict): string {
    return typeof msg.stimulusId === 'string' ? msg.stimulusId : this.state.nextStimulusId(String(msg.op));
  }

  /** Sends what a stimulus produced and wakes gathers waiting on settled keys. */
  private sendOut(out: SchedulerMessages): void {
    // Workers first: their comms flush first, so a thread starts the next task while clients hear the news.
    for (const [address, msgs] of out.toWorkers) {
      const peer = this.workerPeers.get(address);
      if (peer === undefined) continue;
      for (const m of msgs) peer.send(m);
    }
    for (const [client, msgs] of out.toClients) {
      const peer = this.clientPeers.get(client);
      if (peer === undefined) continue;
      for (const m of msgs) peer.send(m);
    }
    for (const entry of out.settled) {
      const waiters = this.keyWaiters.get(entry.key);
      if (waiters === undefined) continue;
      this.keyWaiters.delete(entry.key);
      for (const w of waiters) w.resolve(entry);
    }
  }

  /** The address of the registered worker behind `from`, or undefined (logged) for any other peer. */
  private workerOf(from: Peer | undefined, op: string): string | undefined {
    const role = from?.role as SchedulerRole | undefined;
    if (role?.kind === 'worker') return role.address;
    this.log.warn({ op, peer: from?.address }, 'worker message from a peer that is not a registered worker; ignored');
    return undefined;
  }

  protected override onPeerClosed(peer: Peer): void {
    const role = peer.role as SchedulerRole | undefined;
    if (role === undefined) return;
    if (role.kind === 'worker') {
      if (this.workerPeers.get(role.address) !== peer) return;
      this.log.debug({ worker: role.address }, 'worker connection closed');
      this.dropWorker(role.address, false, this.state.nextStimulusId('worker-gone'));
    } else {
      if (this.clientPeers.get(role.id) !== peer) return;
      this.clientPeers.delete(role.id);
      this.log.info({ client: role.id }, 'client connection closed');
      // Perhaps a blip: a client that said it reconnects is waited for (or forgotten at once).
      this.clientGrace.connectionLost(role.id);
    }
  }

  /** A client is gone for good: its leases, subscriptions and wanted keys are released. */
  private forgetClient(client: string, stimulusName: string): void {
    this.coordination.peerClosed?.(client);
    this.events.peerClosed(client);
    const known = this.state.clients.has(client);
    this.sendOut(this.state.removeClient(client, this.state.nextStimulusId(stimulusName)));
    if (known) this.plugins.removeClient(client);
  }

  private clientGraceHost(): ClientGraceHost {
    return {
      log: this.log,
      post: (msg) => this.post(msg),
      forgetClient: (client, stimulusName) => this.forgetClient(client, stimulusName),
      disconnected: (client) => this.coordination.peerDisconnected(client),
      keysOf: (client) => this.state.clients.get(client)?.wantsWhat.size ?? 0,
      workerKnown: (address) => this.state.workers.has(address),
      logEvent: (topic, msg) => this.logEvent(topic, msg),
    };
  }

  /* ---------------------------------------------------------------- */
  /* clients                                                            */
  /* ---------------------------------------------------------------- */

  private registerClient(msg: OpDict, from: Peer | undefined): { address: string; id: string; durable: boolean; dashboard?: string } {
    const client = requireString(msg.client, 'client', 'register-client');
    if (from === undefined) throw new DistributedError('register-client must come from a connection');
    this.state.registerClient(client, typeof msg.name === 'string' ? msg.name : undefined);
    from.role = { kind: 'client', id: client } satisfies SchedulerRole;
    const stillConnected = this.clientPeers.has(client);
    this.clientPeers.set(client, from);
    const resumed = this.clientGrace.registered(client, msg);
    this.log.info({ client, peer: from.address, resumed }, resumed ? 'client reconnected within its grace period' : 'client connected');
    if (msg.reconnect === true) {
      const sameScheduler = msg.scheduler === this.id;
      this.logEvent([RECOVERY_TOPIC, ALL_TOPIC], clientReconnectedEvent(client, sameScheduler, parseReconnectReport(msg.away)));
      if (!this.recovery.durable && !sameScheduler) {
        this.log.warn(
          { client },
          `client ${client} came back after a scheduler restart: without --state-dir, the Locks, Semaphores, Queues, Variables, Events and published datasets from before the restart are lost`,
        );
        this.logEvent([RECOVERY_TOPIC, ALL_TOPIC], stateLostEvent(client));
      }
    }
    // Plugins saw no removeClient for a client that comes back within its grace period (or before its old connection closed).
    if (!resumed && !stillConnected) this.plugins.addClient(client);
    const reply = { address: this.address, id: this.id, durable: this.recovery.durable };
    return this.dashboard === undefined ? reply : { ...reply, dashboard: this.dashboard.url };
  }

  private updateGraph(msg: OpDict): void {
    const client = requireString(msg.client, 'client', 'update-graph');
    // Malformed tasks or keys are refused by the state with InvalidGraphError (sent to the client).
    this.sendOut(this.state.updateGraph(client, msg.tasks as GraphTask[], msg.keys as string[], this.stimulus(msg)));
    if (Array.isArray(msg.keys)) this.recovery.keysKnown(msg.keys as string[]);
    if (this.plugins.size > 0) {
      const tasks = Array.isArray(msg.tasks) ? (msg.tasks as GraphTask[]).map((task) => task.key) : [];
      this.plugins.updateGraph({ client, keys: Array.isArray(msg.keys) ? (msg.keys as string[]) : [], tasks });
    }
  }

  private closeClient(client: string, from: Peer | undefined): void {
    if (from !== undefined && this.clientPeers.get(client) === from) {
      this.clientPeers.delete(client);
      from.role = undefined;
    }
    this.log.info({ client }, 'client closed');
    this.clientGrace.closed(client);
    // Its Lock/Semaphore leases go now, as a vanished client's do (not when they next expire).
    this.coordination.peerClosed?.(client);
    const known = this.state.clients.has(client);
    this.sendOut(this.state.removeClient(client, this.state.nextStimulusId('close-client')));
    if (known) this.plugins.removeClient(client);
  }

  private identity(): Record<string, unknown> {
    // `services` as in dask's scheduler_info(): what else this scheduler serves, by name.
    const services = this.dashboard === undefined ? {} : { dashboard: this.dashboard.url };
    return { type: 'Scheduler', id: this.id, address: this.address, services, workers: this.state.workerSummaries() };
  }

  /* ---------------------------------------------------------------- */
  /* gather                                                             */
  /* ---------------------------------------------------------------- */

  /**
   * Values of `keys` from the workers holding them. A key still being computed
   * is awaited; an erred key rejects with the task's (blamed) exception; a key
   * the scheduler does not know, or whose value could not be fetched, is listed
   * in `missing`.
   */
  private async gather(keys: string[], direct = false): Promise<GatherReply> {
    const unique = [...new Set(keys)];
    const missing: string[] = [];
    const ready: string[] = [];
    const pending: Promise<SettledKey>[] = [];
    for (const key of unique) {
      const ts = this.state.tasks.get(key);
      if (ts === undefined) missing.push(key);
      else if (ts.state === 'memory') ready.push(key);
      else if (ts.state === 'erred') throw deserializeError(ts.exceptionBlame?.exception ?? { name: 'Error', message: `${key} erred` });
      else pending.push(this.whenSettled(key));
    }
    for (const entry of await Promise.all(pending)) {
      if (entry.state === 'memory') ready.push(entry.key);
      else if (entry.state === 'erred') throw deserializeError(entry.exception ?? { name: 'Error', message: `${entry.key} erred` });
      else missing.push(entry.key);
    }
    let relayed = ready;
    let holders: Record<string, string[]> | undefined;
    if (direct) {
      relayed = [];
      for (const key of ready) {
        const ts = this.state.tasks.get(key);
        const on = ts === undefined || ts.nbytes < DIRECT_TRANSFER_MIN_BYTES ? [] : ts.holders().filter((ws) => isDirectlyReachable(ws.address));
        if (on.length === 0) relayed.push(key);
        else (holders ??= {})[key] = on.map((ws) => ws.address);
      }
    }
    const data = await this.fetchValues(relayed, missing);
    return holders === undefined ? { data, missing } : { data, missing, direct: holders };
  }

  private whenSettled(key: string): Promise<SettledKey> {
    if (!this.state.watch(key)) return Promise.resolve({ key, state: 'forgotten' });
    return new Promise((resolve) => {
      let waiters = this.keyWaiters.get(key);
      if (waiters === undefined) this.keyWaiters.set(key, (waiters = []));
      waiters.push({ resolve });
    });
  }

  /** get_data from holders, one call per worker, trying other holders when one fails. */
  private async fetchValues(keys: string[], missing: string[]): Promise<Record<string, Blob>> {
    const data: Record<string, Blob> = {};
    const tried = new Map<string, Set<string>>();
    let left = keys;
    for (let busyRounds = 0; left.length > 0; ) {
      const byWorker = new Map<string, string[]>();
      for (const key of left) {
        const holders = this.state.tasks.get(key)?.holders() ?? [];
        const seen = tried.get(key);
        const holder = holders.find((ws) => seen === undefined || !seen.has(ws.address));
        if (holder === undefined) {
          missing.push(key);
          continue;
        }
        const list = byWorker.get(holder.address);
        if (list === undefined) byWorker.set(holder.address, [key]);
        else list.push(key);
      }
      const retry: string[] = [];
      let busy = false;
      await Promise.all(
        [...byWorker].map(async ([address, wanted]) => {
          const peer = this.workerPeers.get(address);
          let reply: { status?: string; data?: Record<string, unknown> } | undefined;
          try {
            if (peer === undefined) throw new DistributedError(`${address} is not connected`);
            reply = await peer.call({ op: 'get_data', keys: wanted, who: this.address });
          } catch (error) {
            this.log.debug({ err: error, worker: address }, 'get_data failed; trying other holders');
          }
          if (reply?.status === 'busy') {
            busy = true;
            retry.push(...wanted);
            return;
          }
          for (const key of wanted) {
            const value = reply?.data?.[key];
            if (isBlob(value)) data[key] = value;
            else {
              let seen = tried.get(key);
              if (seen === undefined) tried.set(key, (seen = new Set()));
              seen.add(address);
              retry.push(key);
            }
          }
        }),
      );
      left = retry;
      if (busy) {
        if (++busyRounds > BUSY_RETRIES) {
          missing.push(...left);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS * 2 ** (busyRounds - 1)));
      }
    }
    return data;
  }

  /* ---------------------------------------------------------------- */
  /* scatter, broadcast-run                                             */
  /* ---------------------------------------------------------------- */

  private async scatter(msg: OpDict): Promise<{ keys: string[] }> {
    const client = requireString(msg.client, 'client', 'scatter');
    const data = msg.data as Record<string, unknown> | undefined;
    if (typeof data !== 'object' || data === null) throw new DistributedError('scatter: data must be an object of key -> Blob');
    const keys = Object.keys(data);
    for (const key of keys) if (!isBlob(data[key])) throw new DistributedError(`scatter: the value of ${key} is not a Blob`);
    if (keys.length === 0) return { keys };
    const plan = await this.placementFor(keys, msg, 'scatter');
    const placed = await placeByPlan(plan, data as Record<string, Blob>, async (address, subset) => {
      try {
        const peer = this.workerPeers.get(address);
        if (peer === undefined) throw new DistributedError(`${address} is not connected`);
        await peer.call({ op: 'update_data', data: subset });
      } catch (error) {
        this.log.warn({ err: error, worker: address }, 'update_data failed during scatter');
        throw error;
      }
    });
    const failed = keys.filter((key) => !placed.has(key));
    if (failed.length > 0) throw new DistributedError(`scatter: could not place ${failed.slice(0, 5).join(', ')} on any worker`);
    this.sendOut(
      this.state.addData(
        client,
        keys.map((key) => ({ key, nbytes: (data[key] as Blob).byteLength, workers: placed.get(key)! })),
        this.state.nextStimulusId('scatter'),
      ),
    );
    return { keys };
  }

  /** Which workers should receive which keys (round-robin by threads, or every worker with `broadcast`). */
  private async placementFor(keys: string[], msg: OpDict, op: string): Promise<Record<string, string[]>> {
    const workers = optionalStrings(msg.workers, 'workers', op);
    if (workers === undefined && this.state.running.length === 0) await this.workersAtLeast(1, undefined);
    return Object.fromEntries(this.state.planScatter(keys, { ...(workers !== undefined ? { workers } : {}), broadcast: msg.broadcast === true }));
  }

  /** A client scattering large values itself: where to put them (it then sends them and says `scatter-placed`). */
  private async scatterPlan(msg: OpDict): Promise<{ plan: Record<string, string[]> }> {
    const keys = requireKeys(msg.keys, 'scatter-plan');
    return { plan: keys.length === 0 ? {} : await this.placementFor(keys, msg, 'scatter-plan') };
  }

  /** A client placed scattered values on workers itself: they are in memory there now, and the client wants them. */
  private scatterPlaced(msg: OpDict): { keys: string[] } {
    const client = requireString(msg.client, 'client', 'scatter-placed');
    const placed = msg.placed as unknown;
    if (!Array.isArray(placed)) throw new DistributedError('scatter-placed: placed must be a list of { key, nbytes, workers }');
    const entries: PlacedData[] = placed.map((entry: unknown) => {
      const { key, nbytes, workers } = (entry ?? {}) as { key?: unknown; nbytes?: unknown; workers?: unknown };
      if (typeof key !== 'string' || typeof nbytes !== 'number' || !Array.isArray(workers) || !workers.every((w) => typeof w === 'string')) {
        throw new DistributedError('scatter-placed: each entry needs key (string), nbytes (number) and workers (strings)');
      }
      return { key, nbytes, workers: workers as string[] };
    });
    this.sendOut(this.state.addData(client, entries, this.state.nextStimulusId('scatter')));
    return { keys: entries.map((entry) => entry.key) };
  }

  private async broadcastRun(msg: OpDict): Promise<Record<string, RunReply>> {
    const fn = msg.fn as FunctionRef | undefined;
    if (typeof fn !== 'object' || fn === null) throw new DistributedError('broadcast-run: fn is required');
    if (!isBlob(msg.args)) throw new DistributedError('broadcast-run: args must be a Blob');
    const targets = this.state.selectWorkers(optionalStrings(msg.workers, 'workers', 'broadcast-run'));
    const results: Record<string, RunReply> = {};
    await Promise.all(
      targets.map(async (ws) => {
        const peer = this.workerPeers.get(ws.address);
        try {
          if (peer === undefined) throw new DistributedError(`${ws.address} is not connected`);
          results[ws.address] = await peer.call<RunReply>({ op: 'run', fn, args: msg.args });
        } catch (error) {
          results[ws.address] = { ok: false, error: serializeError(error) };
        }
      }),
    );
    return results;
  }

  /* ---------------------------------------------------------------- */
  /* workers                                                            */
  /* ---------------------------------------------------------------- */

  private registerWorker(msg: RegisterWorkerMsg, from: Peer | undefined): RegisterWorkerReply {
    if (from === undefined) throw new DistributedError('register-worker must come from a connection');
    const address = requireString(msg.address, 'address', 'register-worker');
    // A worker coming back after a scheduler loss reports what it holds; checked before anything changes.
    const held = parseHeldReport(msg as unknown as OpDict, 'register-worker');
    const keptPlugins = optionalStrings(msg.plugins, 'plugins', 'register-worker');
    const out = this.state.addWorker(
      {
        address,
        nthreads: msg.nthreads,
        ...(typeof msg.name === 'string' ? { name: msg.name } : {}),
        ...(msg.resources !== undefined ? { resources: msg.resources } : {}),
        ...(typeof msg.memoryLimit === 'number' ? { memoryLimit: msg.memoryLimit } : {}),
        ...(typeof msg.pid === 'number' ? { pid: msg.pid } : {}),
        ...(typeof msg.nanny === 'string' ? { nanny: msg.nanny } : {}),
        ...(typeof msg.host === 'string' ? { host: msg.host } : {}),
        ...(held === undefined && Array.isArray(msg.keys) ? { keys: msg.keys } : {}),
      },
      this.stimulus(msg as unknown as OpDict),
    );
    from.role = { kind: 'worker', address } satisfies SchedulerRole;
    this.workerPeers.set(address, from);
    this.heartbeats.seen(address);
    // Before any compute-task on the same connection: a task may import an uploaded module.
    for (const [filename, data] of this.uploads) from.send({ op: 'upload_file', filename, data });
    this.workerPlugins.workerJoined(from, address, keptPlugins);
    this.sendOut(out);
    this.plugins.addWorker(address);
    this.logEvent([WORKERS_TOPIC, ALL_TOPIC], { action: 'add-worker', worker: address });
    for (const waiter of [...this.workerCountWaiters]) {
      if (this.state.running.length >= waiter.n) {
        this.workerCountWaiters.delete(waiter);
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
        waiter.resolve();
      }
    }
    if (held !== undefined) {
      const event = workerReregisteredEvent(address, held.length, parseReconnectReport(msg.away));
      this.log.info({ worker: address, keys: held.length, retries: event.retries, awayMs: event.awayMs }, event.text);
      this.logEvent([RECOVERY_TOPIC, ALL_TOPIC], event);
      this.recovery.adoptHeld(address, held, this.state.nextStimulusId('worker-reregistered'));
    } else {
      this.log.info({ worker: address, name: msg.name, nthreads: msg.nthreads }, 'worker joined');
    }
    return { status: 'OK', heartbeatInterval: this.heartbeats.interval };
  }

  private waitForWorkers(msg: OpDict): Promise<void> {
    const n = msg.n;
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0)) throw new DistributedError('wait_for_workers: n must be a non-negative integer');
    const timeout = msg.timeout === undefined || msg.timeout === null ? undefined : parseDuration(msg.timeout as number | string);
    return this.workersAtLeast(n, timeout);
  }

  private workersAtLeast(n: number, timeout: number | undefined): Promise<void> {
    if (this.state.running.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: WorkerCountWaiter = { n, resolve, reject, timer: undefined };
      if (timeout !== undefined && Number.isFinite(timeout)) {
        waiter.timer = setTimeout(() => {
          this.workerCountWaiters.delete(waiter);
          reject(new TimeoutError(`only ${this.state.running.length} of ${n} workers arrived within ${timeout} ms`));
        }, timeout);
      }
      this.workerCountWaiters.add(waiter);
    });
  }

  /** Closes every worker (and nanny: it would start a new worker) and then the scheduler (client.shutdown()). */
  private async terminate(): Promise<'OK'> {
    const reason = 'scheduler terminating';
    await Promise.allSettled(
      [...this.workerPeers].map(async ([address, peer]) => {
        const nanny = this.state.workers.get(address)?.nanny;
        if (nanny !== undefined) {
          try {
            await this.callNanny(nanny, { op: 'close', reason }, '5s');
            return;
          } catch (error) {
            this.log.warn({ err: error, nanny }, 'could not ask the nanny to close; closing its worker');
          }
        }
        if (!peer.closed) peer.send({ op: 'close', reason });
      }),
    );
    setImmediate(() => void this.close());
    return 'OK';
  }

  /* ---------------------------------------------------------------- */
  /* worker loss, heartbeats, restart                                   */
  /* ---------------------------------------------------------------- */

  /** Forget a worker (its connection, if any, is returned for the caller to close). Idempotent. */
  private dropWorker(address: string, expected: boolean, stimulusId: string): Peer | undefined {
    const peer = this.workerPeers.get(address);
    if (this.state.workers.has(address)) this.log.info({ worker: address, expected }, 'worker left');
    this.workerPeers.delete(address);
    this.heartbeats.forget(address);
    this.workerMetrics.delete(address);
    const known = this.state.workers.has(address);
    this.sendOut(this.state.removeWorker(address, { expected }, stimulusId));
    this.workerPlugins.workerLeft(address);
    if (known) {
      this.clientGrace.workerGone(address);
      this.plugins.removeWorker(address);
      this.logEvent([WORKERS_TOPIC, ALL_TOPIC], { action: 'remove-worker', worker: address, expected });
    }
    return peer;
  }

  private workerExpired(address: string, silentMs: number): void {
    const ws = this.state.workers.get(address);
    if (ws === undefined) return;
    const nanny = ws.nanny;
    this.log.warn(
      { worker: address, silentMs, ttl: this.heartbeats.ttl, nanny },
      `worker ${address} sent no heartbeat for ${Math.round(silentMs)} ms; removing it${nanny === undefined ? '' : ' and restarting it through its nanny'}`,
    );
    void this.dropWorker(address, false, this.state.nextStimulusId('worker-ttl'))?.close();
    if (nanny !== undefined) {
      this.callNanny(nanny, { op: 'restart', reason: 'worker-ttl expired' }, NANNY_CALL_TIMEOUT).catch((error: unknown) => {
        this.log.warn({ err: error, nanny, worker: address }, 'could not restart an unresponsive worker through its nanny');
      });
    }
  }

  /** The nanny killed its worker for memory: its tasks count as suspicious, as for a crash (and only once). */
  private workerRestartMemory(msg: OpDict): void {
    const worker = requireString(msg.worker, 'worker', 'worker-restart-memory');
    this.log.warn(
      { worker, nanny: msg.nanny, rss: msg.rss, limit: msg.limit },
      `nanny ${String(msg.nanny)} restarted worker ${worker}: it used ${String(msg.rss)} of ${String(msg.limit)} bytes`,
    );
    if (this.state.workers.has(worker)) this.dropWorker(worker, false, this.stimulus(msg));
  }

  private async callNanny<T>(address: string, msg: OpDict, timeout: number | string): Promise<T> {
    const peer = await this.connect(address, { timeout: '5s' });
    try {
      return await peer.call<T>(msg, { timeout });
    } finally {
      void peer.close();
    }
  }

  /**
   * client.restart(): every client's futures are cancelled, every task is
   * forgotten, workers with a nanny get a new process (others are closed),
   * and the reply comes once as many workers as before are registered.
   */
  private async restartCluster(msg: OpDict): Promise<{ status: 'OK'; workers: number }> {
    const timeout = msg.timeout === undefined || msg.timeout === null ? this.restartTimeout : parseDuration(msg.timeout as number | string);
    if (this.restarting) throw new DistributedError('restart: a restart is already under way');
    this.restarting = true;
    try {
      const workers = [...this.state.running];
      const deadline = Date.now() + timeout;
      this.log.info({ workers: workers.length }, 'restarting: cancelling all work and restarting every worker');
      for (const peer of this.clientPeers.values()) if (!peer.closed) peer.send({ op: 'restart' });
      const stimulusId = this.state.nextStimulusId('restart');
      for (const cs of [...this.state.clients.values()]) {
        const keys = [...cs.wantsWhat].map((ts) => ts.key);
        if (keys.length > 0) this.sendOut(this.state.clientReleasesKeys(cs.id, keys, stimulusId));
      }
      this.datasets.clear();
      if (this.state.tasks.size > 0) this.log.warn({ tasks: this.state.tasks.size }, 'restart: tasks left after releasing every key');
      let withoutNanny = 0;
      await Promise.all(
        workers.map(async (ws) => {
          if (ws.nanny !== undefined) {
            try {
              await this.callNanny(ws.nanny, { op: 'restart', reason: 'client restart' }, Math.max(1, deadline - Date.now()));
            } catch (error) {
              this.log.warn({ err: error, nanny: ws.nanny }, 'restart: the nanny could not restart its worker');
            }
          } else if (this.inProcessWorkers?.owns(ws.address) === true) {
            // A worker in this process (a LocalCluster of threads): its cluster replaces it.
            try {
              await this.inProcessWorkers.restart(ws.address);
            } catch (error) {
              this.log.warn({ err: error, worker: ws.address }, 'restart: could not replace an in-process worker');
            }
          } else {
            withoutNanny++;
            this.dropWorker(ws.address, true, stimulusId)?.send({ op: 'close', reason: 'restart' });
          }
          // The old process is gone by now; do not count it while waiting.
          if (this.state.workers.get(ws.address) === ws) void this.dropWorker(ws.address, true, stimulusId)?.close();
        }),
      );
      try {
        await this.workersAtLeast(workers.length, Math.max(0, deadline - Date.now()));
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
        throw new TimeoutError(
          `restart: waited ${timeout} ms for ${workers.length} workers to come back, but only ${this.state.running.length} did` +
            (withoutNanny > 0 ? ` (${withoutNanny} worker(s) without a nanny were closed, not restarted)` : ''),
        );
      }
      return { status: 'OK', workers: this.state.running.length };
    } finally {
      this.restarting = false;
    }
  }

  /* ---------------------------------------------------------------- */
  /* uploads, replicate, rebalance                                      */
  /* ---------------------------------------------------------------- */

  private async uploadFile(msg: OpDict): Promise<{ status: 'OK'; workers: string[] }> {
    const filename = checkUploadName(msg.filename);
    const data = msg.data;
    if (!isBlob(data)) throw new DistributedError('upload_file: data must be bytes');
    this.uploads.set(filename, data);
    const targets = [...this.workerPeers];
    const outcomes = await Promise.allSettled(targets.map(([, peer]) => peer.call({ op: 'upload_file', filename, data }, { timeout: '30s' })));
    const failed = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    if (failed >= 0) {
      const reason = (outcomes[failed] as PromiseRejectedResult).reason as Error;
      throw new DistributedError(`upload_file: could not write ${filename} on ${targets[failed]![0]}: ${reason.message}`, { cause: reason });
    }
    return { status: 'OK', workers: targets.map(([address]) => address) };
  }

  /** What the retirement extension may do here (a getter for the state: it is made after field initializers run). */
  private retirementHost(): RetirementHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const scheduler = this;
    return {
      get state() {
        return scheduler.state;
      },
      setWorkerStatus: (address, status) => this.sendOut(this.state.workerStatusChange(address, status, this.state.nextStimulusId('retire'))),
      acquire: (plan) => this.acquire(plan),
      closeWorker: (address, reason) => this.closeRetiredWorker(address, reason),
    };
  }

  private recoveryHost(): RecoveryHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const scheduler = this;
    return {
      get state() {
        return scheduler.state;
      },
      log: this.log,
      coordination: this.coordination,
      datasets: this.datasets,
      sendOut: (out) => this.sendOut(out),
      post: (msg) => this.post(msg),
      whenSettled: (key) => this.whenSettled(key),
      logEvent: (topic, msg) => this.logEvent(topic, msg),
    };
  }

  private adaptiveHost(): { readonly state: SchedulerState; readonly retiring: ReadonlySet<string> } {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const scheduler = this;
    return {
      get state() {
        return scheduler.state;
      },
      get retiring() {
        return scheduler.retirement.retiring;
      },
    };
  }

  /** An expected departure (nothing is suspicious, nothing recomputed), then the process is closed; its nanny must not restart it. */
  private async closeRetiredWorker(address: string, reason: string): Promise<void> {
    const nanny = this.state.workers.get(address)?.nanny;
    const peer = this.dropWorker(address, true, this.state.nextStimulusId('retired'));
    if (nanny !== undefined) {
      try {
        await this.callNanny(nanny, { op: 'close', reason }, '10s');
        return;
      } catch (error) {
        this.log.warn({ err: error, nanny }, 'could not ask the nanny to close its retired worker; closing the worker');
      }
    }
    if (peer !== undefined && !peer.closed) peer.send({ op: 'close', reason });
  }

  private async replicate(msg: OpDict): Promise<{ status: 'OK' }> {
    const keys = requireKeys(msg.keys, 'replicate');
    const n = msg.n === undefined || msg.n === null ? undefined : msg.n;
    if (n !== undefined && !(typeof n === 'number' && Number.isInteger(n) && n >= 1)) throw new DistributedError('replicate: n must be a positive integer');
    const workers = optionalStrings(msg.workers, 'workers', 'replicate');
    const plan = planReplicate(this.state, keys, { ...(n !== undefined ? { n } : {}), ...(workers !== undefined ? { workers } : {}) });
    await this.acquire(plan);
    return { status: 'OK' };
  }

  private async rebalance(msg: OpDict): Promise<{ status: 'OK'; moved: number }> {
    const keys = optionalStrings(msg.keys, 'keys', 'rebalance');
    const workers = optionalStrings(msg.workers, 'workers', 'rebalance');
    const moves = planRebalance(this.state, keys, workers);
    await this.acquire(acquisitionsOf(moves));
    const bySender = new Map<string, string[]>();
    for (const move of moves) {
      const list = bySender.get(move.from);
      if (list === undefined) bySender.set(move.from, [move.key]);
      else list.push(move.key);
    }
    for (const [sender, dropped] of bySender) this.sendOut(this.state.dropReplicas(sender, dropped, this.state.nextStimulusId('rebalance')));
    return { status: 'OK', moved: moves.length };
  }

  /** Recipients fetch straight from the holders (acquire-replicas); resolves once the scheduler has seen every copy. */
  private async acquire(plan: readonly Acquisition[]): Promise<void> {
    for (const { worker, whoHas, nbytes } of plan) {
      const peer = this.workerPeers.get(worker);
      if (peer !== undefined && !peer.closed) peer.send({ op: 'acquire-replicas', whoHas, nbytes, stimulusId: this.state.nextStimulusId('acquire-replicas') });
    }
    const deadline = Date.now() + DATA_MOVE_TIMEOUT_MS;
    while (!acquired(this.state, plan)) {
      if (Date.now() > deadline) throw new TimeoutError(`workers did not fetch their copies within ${DATA_MOVE_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, DATA_MOVE_POLL_MS));
    }
  }

  /* ---------------------------------------------------------------- */
  /* datasets                                                           */
  /* ---------------------------------------------------------------- */

  private publishPut(msg: OpDict): 'OK' | Promise<'OK'> {
    const name = requireString(msg.name, 'name', 'publish_put');
    const keys = requireKeys(msg.keys ?? [], 'publish_put');
    if (!isBlob(msg.data)) throw new DistributedError('publish_put: data must be a Blob');
    const existing = this.datasets.get(name);
    if (existing !== undefined && msg.override !== true) throw new DistributedError(`a dataset named ${JSON.stringify(name)} already exists`);
    const holder = `${PUBLISHED_PREFIX}${name}`;
    // Want the new keys before letting go of the old ones: keys in both must not be released in between.
    this.sendOut(this.state.clientDesiresKeys(holder, keys, this.state.nextStimulusId('publish')));
    if (existing !== undefined) {
      const stale = existing.keys.filter((k) => !keys.includes(k));
      this.sendOut(this.state.clientReleasesKeys(holder, stale, this.state.nextStimulusId('publish-override')));
    }
    this.datasets.set(name, { keys: [...keys], data: msg.data });
    return this.recovery.durable ? this.recovery.persist(`dataset/${name}`, { keys, data: msg.data }).then(() => 'OK' as const) : 'OK';
  }

  private publishGet(name: string): Dataset {
    const dataset = this.datasets.get(name);
    if (dataset === undefined) throw new DistributedError(`no dataset named ${JSON.stringify(name)}`);
    return dataset;
  }

  private publishDelete(name: string, msg: OpDict): 'OK' | Promise<'OK'> {
    const dataset = this.datasets.get(name);
    if (dataset === undefined) throw new DistributedError(`no dataset named ${JSON.stringify(name)}`);
    this.datasets.delete(name);
    this.sendOut(this.state.clientReleasesKeys(`${PUBLISHED_PREFIX}${name}`, dataset.keys, this.stimulus(msg)));
    return this.recovery.durable ? this.recovery.persist(`dataset/${name}`, undefined).then(() => 'OK' as const) : 'OK';
  }
}
