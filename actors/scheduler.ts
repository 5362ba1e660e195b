/**
 * The Scheduler: a mailbox actor around the pure SchedulerState
 * (lib/scheduler/state.ts), and a router. Its own handlers decode an op, call
 * one stimulus on the state and send the messages it returns to the matching
 * peers (clients by id, workers by address); it keeps the connections, the
 * worker registry, heartbeats and the work-stealing timer. Everything else is
 * an extension behind a small host interface (actors/scheduler/host.ts):
 * gather, data movement (scatter, replicate, rebalance), broadcast (run,
 * upload_file), datasets, restart/terminate, recovery, retirement, adaptive,
 * and the coordination primitives (lib/coordination/extension.ts). New
 * scheduler-side features belong in new extensions there, not here.
 */
import { randomUUID } from 'node:crypto';
import type { Listener } from '../lib/comm/comm.js';
import { DistributedError, TimeoutError } from '../lib/errors.js';
import type {
  OpDict,
  RegisterClientMsg,
  RegisterWorkerMsg,
  RegisterWorkerReply,
  SchedulerInbox,
  UpdateGraphMsg,
  WaitForWorkersMsg,
  WorkerRestartMemoryMsg,
} from '../lib/protocol/messages.js';
import { FIRE_AND_FORGET, isPseudoClient } from '../lib/scheduler/records.js';
import { parseHeldReport } from '../lib/scheduler/held-report.js';
import { createRecovery, type Recovery, type RecoveryHost } from './scheduler/recovery.js';
import { SchedulerState, type SchedulerMessages, type SchedulerStateOptions } from '../lib/scheduler/state.js';
import { parseDuration } from '../lib/units.js';
import { createCoordinationExtension, type CoordinationExtension } from '../lib/coordination/extension.js';
import { WorkerHeartbeats } from '../lib/scheduler/worker-heartbeats.js';
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
import { socketAddress, socketHost, socketScheme } from '../lib/comm/socket-scheme.js';
import { PluginHost, schedulerView, type SchedulerPlugin } from '../lib/scheduler/plugins.js';
import { ALL_TOPIC, createEventsExtension, TASKS_TOPIC, WORKERS_TOPIC } from '../lib/scheduler/events.js';
import {
  clientReconnectedEvent, parseReconnectReport, RECOVERY_TOPIC, recoveryNotes, stateLostEvent, workerReregisteredEvent,
} from '../lib/scheduler/recovery-notes.js';
import { TaskStream } from '../lib/scheduler/task-stream.js';
import { createWorkerPluginsExtension } from '../lib/scheduler/worker-plugins.js';
import { createStoryExtension } from '../lib/scheduler/story.js';
import { inboxHandlers, MailboxActor, type Handler, type Peer } from '../lib/comm/mailbox.js';
import { createRetirementExtension, type RetirementExtension, type RetirementHost } from './scheduler/retirement.js';
import { createAdaptiveExtension } from './scheduler/adaptive.js';
import { createClientGrace, type ClientGrace, type ClientGraceHost } from './scheduler/client-grace.js';
import type { SchedulerExtension, SchedulerHost } from './scheduler/host.js';
import { optionalStrings, requireKeys, requireString } from './scheduler/checks.js';
import { SettledKeys } from './scheduler/settled-keys.js';
import { createGatherExtension } from './scheduler/gather.js';
import { createDataMovementExtension, type DataMovementExtension } from './scheduler/data-movement.js';
import { createBroadcastExtension } from './scheduler/broadcast.js';
import { createDatasetsExtension, type DatasetsExtension } from './scheduler/datasets.js';
import { createRestartExtension, type InProcessWorkers } from './scheduler/restart.js';
import type { SchedulerOptions } from './scheduler/options.js';
import { taskFinished } from '../lib/jit-tiering.js';

export type { InProcessWorkers } from './scheduler/restart.js';
export type { SchedulerOptions } from './scheduler/options.js';

export type SchedulerRole = { kind: 'client'; id: string } | { kind: 'worker'; address: string };

interface WorkerCountWaiter {
  n: number;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_PORT = 8786;
const NANNY_CALL_TIMEOUT = '30s';

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
  private readonly workerCountWaiters = new Set<WorkerCountWaiter>();
  /** Gathers and fire-and-forget watches waiting for keys to settle. */
  private readonly settledKeys: SettledKeys;
  private readonly stealingTimer: NodeJS.Timeout | undefined;
  private closingPromise: Promise<void> | undefined;
  private readonly heartbeats: WorkerHeartbeats;
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

  /** publish_*: named values (actors/scheduler/datasets.ts). */
  private readonly datasets: DatasetsExtension;
  /** Held-over values, the state dir and what it restores (actors/scheduler/recovery.ts). */
  private readonly recovery: Recovery;
  /** Clients whose connection dropped are waited for (actors/scheduler/client-grace.ts). */
  private readonly clientGrace: ClientGrace;
  /** scatter, replicate, rebalance (actors/scheduler/data-movement.ts). */
  private readonly dataMovement: DataMovementExtension;
  /** retire_workers / workers_to_close: graceful retirement (actors/scheduler/retirement.ts). */
  private readonly retirement: RetirementExtension;
  /** Everything beyond routing, each behind the host interface (actors/scheduler/host.ts). */
  private readonly extensions: readonly SchedulerExtension[];
  protected readonly handlers: Readonly<Record<string, Handler>>;

  private constructor(options: SchedulerOptions) {
    super('scheduler', { security: options.security });
    if (options.security !== undefined) adoptServerSecurity(options.security);
    this.allowRunOnScheduler = options.allowRunOnScheduler === true;
    const stateOptions: SchedulerStateOptions = {};
    if (options.allowedFailures !== undefined) stateOptions.allowedFailures = options.allowedFailures;
    if (options.validate !== undefined) stateOptions.validate = options.validate;
    this.state = new SchedulerState(stateOptions);
    this.settledKeys = new SettledKeys(this.state);
    this.plugins = new PluginHost(
      this.state,
      schedulerView(this.state, { id: this.id, address: () => this.address }, (topic, msg) => this.logEvent(topic, msg)),
    );
    this.heartbeats = new WorkerHeartbeats({
      ...(options.heartbeatInterval !== undefined ? { interval: options.heartbeatInterval } : {}),
      ...(options.workerTtl !== undefined ? { ttl: options.workerTtl } : {}),
      onExpired: (address, silentMs) => this.post({ op: 'worker-ttl-expired', address, silentMs }),
    });
    const host = this.host();
    this.datasets = createDatasetsExtension(host, {
      get durable() {
        return recovery.durable;
      },
      persist: (key, value) => recovery.persist(key, value),
    });
    const recovery = createRecovery(this.recoveryHost(host), { heldOverTtlMs: parseDuration(options.heldOverTtl ?? '60s') });
    this.recovery = recovery;
    this.clientGrace = createClientGrace(this.clientGraceHost(), {
      capMs: options.clientGrace === undefined ? undefined : parseDuration(options.clientGrace),
    });
    this.dataMovement = createDataMovementExtension(host);
    this.retirement = createRetirementExtension(this.retirementHost());
    this.extensions = [
      this.coordination,
      this.retirement,
      // adaptive_target: what a cluster's Adaptive loop asks (actors/scheduler/adaptive.ts).
      createAdaptiveExtension({ state: this.state, retiring: this.retirement.retiring }),
      this.events,
      this.workerPlugins,
      this.story,
      createGatherExtension(host),
      this.dataMovement,
      createBroadcastExtension(host),
      this.datasets,
      createRestartExtension(host, {
        restartTimeout: parseDuration(options.restartTimeout ?? '30s'),
        inProcessWorkers: () => this.inProcessWorkers,
        forgotten: () => {
          for (const extension of this.extensions) extension.restarted?.();
        },
      }),
    ];
    const handlers: Record<string, Handler> = { ...recovery.handlers, ...this.clientGrace.handlers };
    for (const extension of this.extensions) Object.assign(handlers, extension.handlers);
    this.handlers = { ...handlers, ...this.ownHandlers() };
    const interval = parseDuration(options.stealingInterval ?? 100);
    if (interval > 0 && Number.isFinite(interval)) {
      this.stealingTimer = setInterval(() => {
        if (this.state.stealingUseful || this.state.queued.size > 0) this.post({ op: 'balance' });
      }, interval);
      this.stealingTimer.unref();
    }
  }

  /** The ops that are one stimulus on the state, and the connections and worker registry. */
  private ownHandlers(): Record<string, Handler> {
    const typed = inboxHandlers<SchedulerInbox>({
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
      who_has: (msg) => this.state.whoHas(optionalStrings(msg.keys, 'keys', 'who_has')),
      has_what: (msg) => this.state.hasWhat(optionalStrings(msg.workers, 'workers', 'has_what')),
      ncores: (msg) => this.state.ncores(optionalStrings(msg.workers, 'workers', 'ncores')),
      identity: () => this.identity(),
      wait_for_workers: (msg) => this.waitForWorkers(msg),
      'get-task-stream': (msg) => this.taskStream.select({ start: msg.start ?? undefined, stop: msg.stop ?? undefined }),
      // workers
      'register-worker': (msg, from) => this.registerWorker(msg, from),
      'held-keys': (msg, from) => {
        const w = this.workerOf(from, 'held-keys');
        const held = parseHeldReport(msg, 'held-keys');
        if (w !== undefined && held !== undefined) this.recovery.adoptHeld(w, held, this.stimulus(msg));
      },
      'task-finished': (msg, from) => {
        const w = this.workerOf(from, 'task-finished');
        if (w === undefined) return;
        this.taskStream.task(w, msg, 'OK', Date.now());
        this.sendOut(this.state.taskFinished(w, msg, this.stimulus(msg)));
        // Past start-up, the first result on its way: hot paths optimized soon from here (lib/jit-tiering.ts).
        taskFinished();
      },
      'task-erred': (msg, from) => {
        const w = this.workerOf(from, 'task-erred');
        if (w === undefined) return;
        this.taskStream.task(w, msg, 'error', Date.now());
        this.sendOut(this.state.taskErred(w, msg, this.stimulus(msg)));
        this.logEvent([TASKS_TOPIC, ALL_TOPIC], { action: 'task-erred', key: msg.key, worker: w, exception: `${msg.exception?.name}: ${msg.exception?.message}` });
      },
      'missing-data': (msg, from) => {
        const w = this.workerOf(from, 'missing-data');
        if (w !== undefined) this.sendOut(this.state.missingData(w, msg, this.stimulus(msg)));
      },
      'long-running': (msg, from) => {
        const w = this.workerOf(from, 'long-running');
        if (w !== undefined) this.sendOut(this.state.longRunning(w, msg, this.stimulus(msg)));
      },
      'steal-response': (msg, from) => {
        const w = this.workerOf(from, 'steal-response');
        if (w !== undefined) this.sendOut(this.state.stealResponse(w, msg, this.stimulus(msg)));
      },
      reschedule: (msg, from) => {
        const w = this.workerOf(from, 'reschedule');
        if (w !== undefined) this.sendOut(this.state.reschedule(w, msg, this.stimulus(msg)));
      },
      'release-worker-data': (msg, from) => {
        const w = this.workerOf(from, 'release-worker-data');
        if (w !== undefined) this.sendOut(this.state.releaseWorkerData(w, msg, this.stimulus(msg)));
      },
      'add-keys': (msg, from) => {
        const w = this.workerOf(from, 'add-keys');
        if (w === undefined) return;
        const keys = requireKeys(msg.keys, 'add-keys');
        if (msg.transfer !== undefined) this.taskStream.transfer(w, keys, msg.transfer);
        this.sendOut(this.state.addKeys(w, { keys }, this.stimulus(msg)));
      },
      'worker-status-change': (msg, from) => {
        const w = this.workerOf(from, 'worker-status-change');
        // A retiring worker stays closing on our side whatever it says (e.g. 'running' after a pause).
        if (w === undefined || (this.retirement.retiring.has(w) && msg.status !== 'closing')) return;
        this.sendOut(this.state.workerStatusChange(w, msg.status, this.stimulus(msg)));
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
    });
    return {
      ...typed,
      run_on_scheduler: (msg, from) => runOnScheduler(msg, from, this.allowRunOnScheduler),
      // our own heartbeat check
      'worker-ttl-expired': (msg, from) => {
        if (from === undefined) this.workerExpired(String(msg.address), Number(msg.silentMs));
      },
      // our own timer
      balance: (msg, from) => {
        if (from === undefined) this.sendOut(this.state.balance(this.stimulus(msg)));
      },
    };
  }

  /** What the extensions may use (actors/scheduler/host.ts). */
  private host(): SchedulerHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const scheduler = this;
    return {
      state: this.state,
      log: this.log,
      get address() {
        return scheduler.address;
      },
      sendOut: (out) => this.sendOut(out),
      stimulus: (msg) => this.stimulus(msg),
      whenSettled: (key) => this.settledKeys.when(key),
      workerPeers: this.workerPeers,
      clientPeers: this.clientPeers,
      workersAtLeast: (n, timeout) => this.workersAtLeast(n, timeout),
      dropWorker: (address, expected, stimulusId) => this.dropWorker(address, expected, stimulusId),
      callNanny: (address, msg, timeout) => this.callNanny(address, msg, timeout),
      closeWorkerProcess: (nanny, peer, reason, timeout) => this.closeWorkerProcess(nanny, peer, reason, timeout),
      close: () => this.close(),
    };
  }

  /** What the retirement extension may do here. */
  private retirementHost(): RetirementHost {
    return {
      state: this.state,
      setWorkerStatus: (address, status) => this.sendOut(this.state.workerStatusChange(address, status, this.state.nextStimulusId('retire'))),
      acquire: (plan) => this.dataMovement.acquire(plan),
      closeWorker: (address, reason) => this.closeRetiredWorker(address, reason),
    };
  }

  private recoveryHost(host: SchedulerHost): RecoveryHost {
    return {
      state: this.state,
      log: this.log,
      coordination: this.coordination,
      datasets: this.datasets.datasets,
      sendOut: host.sendOut,
      post: (msg) => this.post(msg),
      whenSettled: host.whenSettled,
      logEvent: (topic, msg) => this.logEvent(topic, msg),
    };
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
      for (const extension of this.extensions) extension.close?.();
      this.clientGrace.close();
      const closed = new DistributedError('the scheduler is closing');
      for (const waiter of this.workerCountWaiters) {
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
        waiter.reject(closed);
      }
      this.workerCountWaiters.clear();
      await this.dashboard?.close();
      await this.plugins.close();
      this.settledKeys.close();
      await super.close();
      await this.recovery.close();
    })();
    return this.closingPromise;
  }

  /* ---------------------------------------------------------------- */
  /* plumbing                                                           */
  /* ---------------------------------------------------------------- */

  private stimulus(msg: { readonly op: string; readonly stimulusId?: unknown }): string {
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
    if (out.settled.length > 0) this.settledKeys.settled(out.settled);
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

  private registerClient(msg: RegisterClientMsg, from: Peer | undefined): { address: string; id: string; durable: boolean; dashboard?: string } {
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

  private updateGraph(msg: UpdateGraphMsg): void {
    const client = requireString(msg.client, 'client', 'update-graph');
    // Malformed tasks or keys are refused by the state with InvalidGraphError (sent to the client).
    this.sendOut(this.state.updateGraph(client, msg.tasks, msg.keys, this.stimulus(msg)));
    if (Array.isArray(msg.keys)) this.recovery.keysKnown(msg.keys);
    if (this.plugins.size > 0) {
      const tasks = Array.isArray(msg.tasks) ? msg.tasks.map((task) => task.key) : [];
      this.plugins.updateGraph({ client, keys: Array.isArray(msg.keys) ? msg.keys : [], tasks });
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
  /* workers                                                            */
  /* ---------------------------------------------------------------- */

  private registerWorker(msg: RegisterWorkerMsg, from: Peer | undefined): RegisterWorkerReply {
    if (from === undefined) throw new DistributedError('register-worker must come from a connection');
    const address = requireString(msg.address, 'address', 'register-worker');
    // A worker coming back after a scheduler loss reports what it holds; checked before anything changes.
    const held = parseHeldReport(msg, 'register-worker');
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
      this.stimulus(msg),
    );
    from.role = { kind: 'worker', address } satisfies SchedulerRole;
    this.workerPeers.set(address, from);
    this.heartbeats.seen(address);
    // Before any compute-task on the same connection: a task may import an uploaded module.
    for (const extension of this.extensions) extension.workerAdded?.(address, from);
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

  private waitForWorkers(msg: WaitForWorkersMsg): Promise<void> {
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
  private workerRestartMemory(msg: WorkerRestartMemoryMsg): void {
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

  /** An expected departure (nothing is suspicious, nothing recomputed), then the process is closed; its nanny must not restart it. */
  private closeRetiredWorker(address: string, reason: string): Promise<void> {
    const nanny = this.state.workers.get(address)?.nanny;
    const peer = this.dropWorker(address, true, this.state.nextStimulusId('retired'));
    return this.closeWorkerProcess(nanny, peer, reason, '10s');
  }

  /** Through its nanny when it has one (so the nanny does not start a new one), else by telling the worker itself. */
  private async closeWorkerProcess(nanny: string | undefined, peer: Peer | undefined, reason: string, timeout: string): Promise<void> {
    if (nanny !== undefined) {
      try {
        await this.callNanny(nanny, { op: 'close', reason }, timeout);
        return;
      } catch (error) {
        this.log.warn({ err: error, nanny }, 'could not ask the nanny to close its worker; closing the worker');
      }
    }
    if (peer !== undefined && !peer.closed) peer.send({ op: 'close', reason });
  }
}
