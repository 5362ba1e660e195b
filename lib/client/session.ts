/**
 * One client's live state: its connection to the scheduler, the FutureState
 * of every key it holds Futures for, reference counting, the coalescing
 * outbox and result fetching. The public Client is built on top of this; a
 * Future talks to it as its FutureOwner.
 */
import type { Logger } from 'pino';
import type { Peer } from '../comm/mailbox.js';
import { CancelledError, CommClosedError, ConnectError, InvalidGraphError, LostDataError, ProtocolError, TimeoutError, TlsHandshakeError } from '../errors.js';
import { childLogger } from '../logging.js';
import type {
  Blob, CancelledKeysMsg, GraphTask, KeyInMemoryMsg, LostDataMsg, OpDict, TaskErredToClientMsg, TaskRetriedMsg,
} from '../protocol/messages.js';
import type { FrameParts } from '../protocol/values.js';
import { optionalDuration, parseDuration } from '../units.js';
import { reconnectWithin, ReconnectCancelled } from '../comm/reconnect.js';
import { planResubmission, RecipeBook } from './recipe-book.js';
import { ShardedMap } from '../sharded-map.js';
import { FutureReclaim } from './future-reclaim.js';
import { fireAndForgetClient } from './fire-and-forget.js';
import { ClientMailbox, type SchedulerReports } from './client-mailbox.js';
import { formatMs } from '../deadline.js';
import { Future, ownerOf, stateOf, type CancelOptions, type FutureOwner } from './future.js';
import { FutureState } from './future-state.js';
import { ClientOutbox } from './client-outbox.js';
import { ActorHolds } from './actor-holds.js';
import { installActorProxy } from './actor.js';
import { blockingWait } from '../task-context.js';
import { ResultFetch } from './result-fetch.js';
import { ProcessHold } from './process-hold.js';
import type { TaskReference } from './arguments.js';
import { DirectData } from './direct-data.js';
import { DIRECT_TRANSFER_MIN_BYTES, isDirectlyReachable } from '../protocol/direct-transfer.js';
import type { RegisteredClient as Client } from '../task-context.js';
import { adoptClientSecurity } from '../comm/program-security.js';
import type { Security } from '../comm/security.js';
import { TopicHandlers } from './topics.js';
import { SchedulerRegistrations } from './registrations.js';

/** Back-off between connection attempts while Client.connect's timeout lasts. */
const FIRST_CONNECT_RETRY_MS = 50;
const MAX_CONNECT_RETRY_MS = 1000;

export interface OpenOptions {
  id: string;
  name: string;
  /** Milliseconds for connecting and registering together. */
  timeout: number;
  /** Milliseconds to win the scheduler back after losing it (0: do not try). Default 60 s. */
  reconnectTimeout?: number;
  /** TLS credentials for every connection of this client (scheduler and workers). */
  security?: Security;
  /** The worker this client lives in (a task's getClient()): the scheduler stops waiting for it when that worker is gone. */
  worker?: string;
}

const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;
/** After a reconnection, how long to wait for workers to bring back values that have no recipe. */
const HELD_VALUES_WAIT_MS = 5_000;
const HELD_VALUES_POLL_MS = 100;

export class ClientSession implements FutureOwner, SchedulerReports {
  /** The FutureState of every key this client holds Futures for. */
  /** Sharded: a million held futures must not grow one Map by rehashing it all at once (sharded-map.ts). */
  readonly states = new ShardedMap<FutureState>();
  /** The public Client (set by it right after opening). */
  client!: Client;
  readonly log: Logger;

  private readonly mailbox: ClientMailbox;
  private scheduler: Peer | undefined;
  private readonly outbox: ClientOutbox;
  private name = '';
  private worker: string | undefined;
  private reconnectTimeout = DEFAULT_RECONNECT_TIMEOUT_MS;
  /** Settles once the scheduler is back (or rejects when it stays away past reconnectTimeout). */
  private reconnecting: Promise<void> | undefined;
  /** Calls waiting for the scheduler to come back. */
  private waitingCalls = 0;
  /** The recipes of held keys, to submit again to a scheduler that restarted. */
  private readonly recipes = new RecipeBook((key) => this.states.has(key) || this.fireAndForgotten.has(key));
  /** Keys handed to fire-and-forget: submitted again after a restart unless known done. */
  private readonly fireAndForgotten = new Set<string>();
  /** The scheduler's id (a new one after a restart). */
  schedulerId: string | undefined;
  /** Releases a key when the garbage collector reclaims its last Future (future-reclaim.ts). */
  private readonly reclaim = new FutureReclaim((state) => this.dropReference(state));
  /** Fetched actor proxies count as references to their keys. */
  private readonly actorHolds = new ActorHolds((state) => this.dropReference(state));
  /** Keys this client is cancelling: the scheduler's `cancelled-keys` echo for them is not news. */
  private readonly cancelling = new Map<string, number>();
  private closedError: Error | undefined;
  private closing: Promise<void> | undefined;
  private schedulerAddress = '';
  /** Fetches large values from workers reachable over TCP directly, not through the scheduler. */
  private readonly direct: DirectData;
  /** Results home: inline values decoded, the others fetched in batches. */
  private readonly fetcher: ResultFetch;
  /** Set when only a busy session may keep the process alive (holdProcessOnlyWhileBusy). */
  private idleWatch: ProcessHold | undefined;
  private callsInFlight = 0;
  /** Set by shutdown(): the scheduler closing the connection is expected. */
  shuttingDown = false;
  /** Handlers of subscribed event topics. */
  readonly topics: TopicHandlers;
  /** Worker plugins this client registered, for a scheduler that restarts. */
  readonly registrations = new SchedulerRegistrations();
  /** The scheduler's dashboard (`http://host:port`), when it serves one. */
  dashboard: string | undefined;

  /** Resolves once connected and registered; rejects (and the session is closed) if that fails. */
  private ready: Promise<void> = Promise.resolve();

  private constructor(readonly id: string, held: boolean, security: Security | undefined) {
    this.log = childLogger('client', { client: id });
    // Actor handles this client decodes become proxies, whichever module it was loaded from.
    installActorProxy();
    this.topics = new TopicHandlers(this.log);
    this.mailbox = new ClientMailbox(this, id, security);
    this.direct = new DirectData(id, security);
    this.fetcher = new ResultFetch({
      call: (msg) => this.call(msg),
      direct: this.direct,
      fetched: (state) => this.actorHolds.fetched(state),
    });
    this.outbox = new ClientOutbox((msg) => this.scheduler!.send(msg), {
      held,
      ready: () => this.reconnecting === undefined && this.scheduler !== undefined && !this.scheduler.closed,
    });
  }

  /** Connects to the scheduler and registers; rejects with ConnectError or TimeoutError within `timeout`. */
  static async open(address: string, options: OpenOptions): Promise<ClientSession> {
    const session = new ClientSession(options.id, false, options.security);
    if (options.security !== undefined) adoptClientSecurity(options.security);
    await session.connect(address, options);
    return session;
  }

  /**
   * A session usable at once, connecting in the background (a task's
   * `getClient()`): submits and releases queue until the connection is up,
   * calls wait for it. If connecting fails, the session closes with that error.
   */
  static start(address: string, options: OpenOptions): ClientSession {
    const session = new ClientSession(options.id, true, options.security);
    session.schedulerAddress = address;
    session.ready = session.connect(address, options).then(() => session.outbox.open());
    session.ready.catch(() => undefined);
    return session;
  }

  private async connect(address: string, options: OpenOptions): Promise<void> {
    this.name = options.name;
    this.worker = options.worker;
    this.reconnectTimeout = options.reconnectTimeout ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    const started = performance.now();
    try {
      const peer = await this.connectRetrying(address, options.timeout, started);
      this.scheduler = peer;
      this.schedulerAddress = address;
      const left = Math.max(1, options.timeout - (performance.now() - started));
      try {
        const reply = await peer.call<{ address?: unknown; id?: unknown; dashboard?: unknown }>(
          { op: 'register-client', client: options.id, name: options.name, ...this.graceTerms(address) },
          { timeout: left },
        );
        if (typeof reply?.id === 'string') this.schedulerId = reply.id;
        if (typeof reply?.dashboard === 'string') this.dashboard = reply.dashboard;
        // Connected in-process to a scheduler that also listens on TCP: report the address others can use.
        if (address.startsWith('inproc://') && typeof reply?.address === 'string' && reply.address !== '') this.schedulerAddress = reply.address;
      } catch (error) {
        // A server speaking another protocol: its own error says so, not the closed connection's.
        if (error instanceof CommClosedError && error.cause instanceof ProtocolError) throw error.cause;
        if (error instanceof TimeoutError) {
          throw new TimeoutError(
            `the scheduler at ${address} did not answer register-client within ${formatMs(options.timeout)}`,
            { cause: error },
          );
        }
        throw error;
      }
    } catch (error) {
      this.markClosed(error instanceof Error ? error : new ConnectError(String(error)));
      // Not awaited: a comm's graceful close waits for a peer that may never answer.
      void this.mailbox.close().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Dials until a connection is made or `timeout` (counted from `started`)
   * runs out: a script that starts a scheduler and a client at once must not
   * fail on the first refused connection (dask's Client retries the same way).
   */
  private async connectRetrying(address: string, timeout: number, started: number): Promise<Peer> {
    let pause = FIRST_CONNECT_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      const left = timeout - (performance.now() - started);
      try {
        return await this.mailbox.connect(address, { timeout: Math.max(1, left) });
      } catch (error) {
        // A refused certificate is refused again: only unreachable schedulers are worth another try.
        if (!(error instanceof ConnectError) || error instanceof TlsHandshakeError) throw error;
        const after = timeout - (performance.now() - started);
        if (after <= 0) {
          if (attempt === 1) throw error;
          throw new ConnectError(`could not connect to ${address} within ${formatMs(timeout)} (${attempt} attempts): ${error.message}`, { cause: error });
        }
        this.log.debug({ err: error, attempt }, 'scheduler not reachable yet; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(pause, after)));
        pause = Math.min(MAX_CONNECT_RETRY_MS, pause * 2);
      }
    }
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  get address(): string {
    return this.schedulerAddress;
  }

  /* ---------------------------------------------------------------- */
  /* talking to the scheduler                                           */
  /* ---------------------------------------------------------------- */

  /**
   * An RPC to the scheduler; everything queued in the outbox goes first.
   * While the scheduler is away (and being won back) the call waits, within
   * its own timeout, and then goes to the scheduler that answers.
   */
  call<T>(msg: OpDict, options?: { timeout?: number | string }): Promise<T> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    if (this.reconnecting !== undefined) return this.callAfterReconnect<T>(msg, optionalDuration(options?.timeout));
    const peer = this.scheduler;
    if (peer === undefined) return this.ready.then(() => this.call<T>(msg, options));
    this.outbox.flush();
    const sent = peer.call<T>(msg, options).catch((error: unknown) => {
      // The connection dropped under the call: ask again once the scheduler is back.
      if (!(error instanceof CommClosedError) || !peer.closed || !this.canReconnect()) throw error;
      this.reconnect(peer);
      return this.callAfterReconnect<T>(msg, optionalDuration(options?.timeout));
    });
    if (this.idleWatch === undefined) return sent;
    this.callsInFlight++;
    this.busy();
    return sent.finally(() => {
      this.callsInFlight--;
    });
  }

  private async callAfterReconnect<T>(msg: OpDict, timeoutMs: number | undefined): Promise<T> {
    const started = performance.now();
    this.waitingCalls++;
    try {
      const back = this.reconnecting ?? Promise.resolve();
      if (timeoutMs === undefined) await back;
      else {
        await withDeadline(back, timeoutMs, () => new TimeoutError(
          `${String(msg.op)}: the scheduler at ${this.schedulerAddress} did not come back within the call's timeout (${formatMs(timeoutMs)})`,
        ));
      }
    } finally {
      this.waitingCalls--;
    }
    const left = timeoutMs === undefined ? undefined : Math.max(1, timeoutMs - (performance.now() - started));
    return this.call<T>(msg, left === undefined ? undefined : { timeout: left });
  }

  /**
   * What the scheduler needs to wait for this client after a connection blip
   * (actors/scheduler/client-grace.ts): how long it will try to come back
   * (0 in-process, where it does not), and the worker it lives in, if any.
   */
  private graceTerms(address: string): { reconnectTimeout: number; worker?: string } {
    const reconnectTimeout = address.startsWith('inproc://') ? 0 : this.reconnectTimeout;
    return this.worker === undefined ? { reconnectTimeout } : { reconnectTimeout, worker: this.worker };
  }

  /** True when a lost scheduler is worth waiting for: not closing, not shut down, not in this process. */
  private canReconnect(): boolean {
    return this.reconnectTimeout > 0 && !this.shuttingDown && this.closing === undefined && this.closedError === undefined &&
      !this.schedulerAddress.startsWith('inproc://');
  }

  /**
   * Win the scheduler back after `lost` closed: retry with a jittered
   * back-off for reconnectTimeout, register under the same client id, then
   * re-declare every held key and submit again the recipes of those the
   * scheduler does not have. Futures stay as they are meanwhile; past
   * reconnectTimeout they fail with CommClosedError.
   */
  private reconnect(lost: Peer): void {
    if (lost !== this.scheduler || this.reconnecting !== undefined) return;
    this.scheduler = undefined;
    this.log.warn({ scheduler: this.schedulerAddress, reconnectTimeout: this.reconnectTimeout }, 'scheduler connection lost, retrying (0)');
    const address = this.schedulerAddress;
    const lostAt = Date.now();
    let retries = 0;
    const previousScheduler = this.schedulerId;
    const attempt = async (left: number): Promise<Peer> => {
      const peer = await this.mailbox.connect(address, { timeout: Math.min(left, 10_000) });
      try {
        const reply = await peer.call<{ id?: unknown }>(
          {
            op: 'register-client', client: this.id, name: this.name, reconnect: true, scheduler: this.schedulerId ?? null,
            away: { retries, awayMs: Date.now() - lostAt }, ...this.graceTerms(address),
          },
          { timeout: Math.min(left, 10_000) },
        );
        if (typeof reply?.id === 'string') this.schedulerId = reply.id;
      } catch (error) {
        void peer.close();
        throw error;
      }
      // A restarted scheduler knows none of this client's subscriptions: before anything else, so no event is missed.
      for (const topic of this.topics.names()) peer.send({ op: 'subscribe-topic', topic, client: this.id });
      if (this.schedulerId !== previousScheduler) for (const msg of this.registrations.restoreMessages()) peer.send(msg);
      return peer;
    };
    const reconnecting = (async () => {
      try {
        const peer = await reconnectWithin(attempt, {
          timeoutMs: this.reconnectTimeout,
          cancelled: () => this.closing !== undefined || this.closedError !== undefined,
          onRetry: (n, error, delayMs) => {
            retries = n;
            this.log.warn({ scheduler: address, attempt: n, delayMs, reason: (error as Error)?.message }, `scheduler connection lost, retrying (${n})`);
          },
          unref: () => this.waitingCalls === 0 && ![...this.states.values()].some((state) => !state.settled),
        });
        this.scheduler = peer;
        await this.resubmit(peer);
        this.log.warn({ scheduler: address, schedulerId: this.schedulerId, keys: this.states.size }, 'reconnected to the scheduler');
      } catch (error) {
        if (error instanceof ReconnectCancelled || this.closedError !== undefined) return;
        this.log.error({ err: error, scheduler: address }, 'could not reconnect to the scheduler');
        this.markClosed(new CommClosedError(
          `lost the connection to the scheduler at ${address} and it did not come back within ${formatMs(this.reconnectTimeout)}`,
          { cause: error },
        ));
      } finally {
        this.reconnecting = undefined;
        this.outbox.flush();
      }
    })();
    this.reconnecting = reconnecting;
  }

  /**
   * Tell a scheduler that may have forgotten everything what this client
   * holds: one update-graph with the recipes of every held key (keys the
   * scheduler has, in memory or held over from the workers, are not run
   * again), after giving workers a moment to bring back values that have no
   * recipe. Keys that need such a value nobody brought back are lost.
   */
  private async resubmit(peer: Peer): Promise<void> {
    const roots: string[] = [];
    for (const state of this.states.values()) {
      if (state.status !== 'error' && state.status !== 'cancelled' && state.closedError === undefined) roots.push(state.key);
    }
    const forgotten = [...this.fireAndForgotten].filter((key) => {
      const state = this.states.get(key);
      return state === undefined || !state.done;
    });
    const all = [...new Set([...roots, ...forgotten])];
    // Finished keys, and keys nothing can recompute, are probably on their way back with the workers:
    // wait a moment for those before submitting recipes, so that nothing runs twice.
    const expected = this.recipes.closure(all).recipeLess;
    for (const key of roots) if (this.states.get(key)?.status === 'finished') expected.add(key);
    const present = new Set<string>();
    if (expected.size > 0) {
      const deadline = Date.now() + Math.min(HELD_VALUES_WAIT_MS, this.reconnectTimeout);
      for (;;) {
        const whoHas = await peer.call<Record<string, string[]>>({ op: 'who_has', keys: [...expected] }, { timeout: 10_000 });
        for (const key of expected) if ((whoHas[key]?.length ?? 0) > 0) present.add(key);
        if (present.size === expected.size || Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, HELD_VALUES_POLL_MS));
      }
    }
    const plan = planResubmission(all, this.recipes, (key) => present.has(key));
    for (const [key, missing] of plan.lost) {
      const state = this.states.get(key);
      if (state === undefined || (state.hasValue && key === missing)) continue;
      state.close(new LostDataError(
        `${key} could not be submitted again after the scheduler at ${this.schedulerAddress} restarted: ` +
          `it needs ${missing}, which has no recipe and which no worker brought back`,
      ));
      this.interruptFetches(key, () => state.closedError!);
    }
    if (plan.keys.length > 0) peer.send({ op: 'update-graph', client: this.id, tasks: plan.tasks, keys: plan.keys });
    const again = forgotten.filter((key) => !plan.lost.has(key));
    if (again.length > 0) {
      peer.send({ op: 'client-desires-keys', client: fireAndForgetClient, keys: again });
      const notHeld = again.filter((key) => !this.states.has(key));
      if (notHeld.length > 0) peer.send({ op: 'client-releases-keys', client: this.id, keys: notHeld });
    }
  }

  /**
   * For a client that owns its in-process cluster (nothing else keeps the
   * process alive): its connection holds the process only while something is
   * awaited (a pending future or a call in flight) and lets go when idle.
   */
  holdProcessOnlyWhileBusy(): void {
    if (this.scheduler === undefined) return;
    this.idleWatch = new ProcessHold(() => this.scheduler, () => this.idle());
  }

  /** Something to wait for: hold the process while it lasts. */
  private busy(): void {
    if (this.closedError === undefined) this.idleWatch?.busy();
  }

  private idle(): boolean {
    if (this.callsInFlight > 0) return false;
    for (const state of this.states.values()) if (!state.done && state.closedError === undefined) return false;
    return true;
  }

  /** A stream message, in order with queued submissions and releases. */
  send(msg: OpDict): void {
    if (this.closedError !== undefined) throw this.closedError;
    this.busy();
    this.outbox.message(msg);
  }

  /** Tells the scheduler that `client` (default: this one) wants `keys`. */
  desireKeys(keys: readonly string[], client = this.id): void {
    if (this.closedError !== undefined) throw this.closedError;
    if (client === fireAndForgetClient) for (const key of keys) this.fireAndForgotten.add(key);
    this.busy();
    this.outbox.keys('client-desires-keys', client, keys);
  }

  /* ---------------------------------------------------------------- */
  /* futures                                                            */
  /* ---------------------------------------------------------------- */

  /** A new Future for `key`, sharing this client's record for it (created pending if new). */
  future<T>(key: string): Future<T> {
    let state = this.states.get(key);
    if (state === undefined) {
      state = new FutureState(key);
      this.states.set(key, state);
    }
    return new Future<T>(state, this);
  }

  /**
   * Refuses references that cannot be used as dependencies: a cancelled
   * Future (CancelledError, as dask) or one this client released
   * (InvalidGraphError: the scheduler may have forgotten its key).
   */
  checkReferences(references: ReadonlyMap<string, TaskReference>): void {
    for (const [key, reference] of references) {
      if (!(reference instanceof Future)) continue;
      const state = stateOf(reference);
      if (state.status === 'cancelled') throw new CancelledError(key, state.cancelReason);
      if (ownerOf(reference) === this && !this.states.has(key)) {
        throw new InvalidGraphError(`future ${key} was released: its key may be gone from the cluster, so it cannot be used as an argument`);
      }
    }
  }

  /**
   * Queues `tasks` (skipping keys this client already holds: the scheduler
   * knows them) and returns one new Future per key of `outputs`, which the
   * client then wants. Nothing is queued if a check throws.
   */
  submit<T>(tasks: readonly GraphTask[], outputs: readonly string[]): Future<T>[] {
    if (this.closedError !== undefined) throw this.closedError;
    this.busy();
    if (tasks.length === 1 && outputs.length === 1 && tasks[0]!.key === outputs[0]) {
      // One submit: the common case, without the bookkeeping below.
      const key = outputs[0]!;
      let state = this.states.get(key);
      if (state === undefined) {
        this.states.set(key, (state = new FutureState(key)));
        this.recipes.record(tasks[0]!);
        this.outbox.updateGraph(this.id, tasks, outputs);
      }
      return [new Future<T>(state, this)];
    }
    // Each lookup in a map of a million keys is a cache miss or more (~0.5-2 µs on a
    // busy machine): a map's rows each cost has + get (+ set), not has + has + set + get.
    const fresh: GraphTask[] = [];
    const queued = new Set<string>();
    for (const task of tasks) {
      if (queued.has(task.key) || this.states.has(task.key)) continue;
      queued.add(task.key);
      fresh.push(task);
    }
    const wanted: string[] = [];
    const states: FutureState[] = new Array(outputs.length);
    for (let i = 0; i < outputs.length; i++) {
      const key = outputs[i]!;
      let state = this.states.get(key);
      if (state === undefined) {
        this.states.set(key, (state = new FutureState(key)));
        wanted.push(key);
      }
      states[i] = state;
    }
    for (const task of fresh) this.recipes.record(task);
    // A task no output needs (all recorded now, so dependencies count) keeps no recipe.
    if (fresh.length > wanted.length) this.recipes.released(fresh.map((task) => task.key));
    if (fresh.length > 0 || wanted.length > 0) this.outbox.updateGraph(this.id, fresh, wanted);
    return states.map((state) => new Future<T>(state, this));
  }

  /** Futures for keys the scheduler has just put in memory for this client (scatter). */
  adoptInMemory<T>(
    keys: readonly string[],
    types: ReadonlyMap<string, string>,
    sizes: ReadonlyMap<string, number>,
    /** Keys whose data was just sent: a value cached for them before is stale. */
    sent: ReadonlySet<string>,
  ): Future<T>[] {
    return keys.map((key) => {
      const future = this.future<T>(key);
      const state = stateOf(future);
      if (sent.has(key)) state.dropValue();
      if (state.status === 'pending' || state.status === 'lost') {
        state.hasRecipe = false;
        if (state.closedError instanceof LostDataError) state.reopen();
        state.finish(types.get(key), sizes.get(key));
      }
      return future;
    });
  }

  adopt(future: Future<unknown>, state: FutureState): void {
    state.refs++;
    this.reclaim.track(future, state);
  }

  disown(future: Future<unknown>, state: FutureState): void {
    this.dropReference(state);
    this.reclaim.released(future, state);
  }

  private dropReference(state: FutureState): void {
    if (--state.refs > 0) {
      this.actorHolds.dropped(state);
      return;
    }
    state.dropValue();
    if (this.states.get(state.key) !== state) return;
    this.states.delete(state.key);
    this.recipes.released([state.key]);
    if (this.closedError === undefined) this.outbox.keys('client-releases-keys', this.id, [state.key]);
  }

  settled(state: FutureState): Promise<void> {
    const settled = new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        if (state.done) resolve();
        else if (state.closedError !== undefined) reject(state.closedError);
        else return false;
        return true;
      };
      if (!check()) state.onSettled(check);
    });
    // Waiting inside a task gives the task's thread slot back meanwhile (docs/tasks-from-tasks.md).
    return blockingWait(settled);
  }

  results(states: readonly FutureState[]): Promise<unknown[]> {
    return this.fetcher.results(states);
  }

  /**
   * Places scattered values on workers: those of DIRECT_TRANSFER_MIN_BYTES or
   * more straight from this client when every worker the scheduler plans for
   * them is reachable over TCP, the rest (and whatever a worker refused)
   * through the scheduler.
   */
  async scatter(data: Record<string, Blob | FrameParts>, where: { workers?: string[]; broadcast?: boolean }, options?: { timeout?: number | string }): Promise<void> {
    let relayed = data;
    const large = Object.keys(data).filter((key) => data[key]!.byteLength >= DIRECT_TRANSFER_MIN_BYTES);
    if (large.length > 0) {
      const { plan } = await this.call<{ plan: Record<string, string[]> }>({ op: 'scatter-plan', keys: large, ...where }, options);
      if (Object.keys(plan).every(isDirectlyReachable)) {
        const { placed } = await this.direct.put(plan, Object.fromEntries(large.map((key) => [key, data[key]!])));
        if (placed.size > 0) {
          const entries = [...placed].map(([key, workers]) => ({ key, nbytes: data[key]!.byteLength, workers }));
          await this.call({ op: 'scatter-placed', client: this.id, placed: entries }, options);
          relayed = Object.fromEntries(Object.entries(data).filter(([key]) => !placed.has(key)));
        }
      }
    }
    if (Object.keys(relayed).length > 0) {
      // A large binary stays in its two pieces: over a socket they leave as one frame (no copy here);
      // in one process the scheduler hands them to the worker, which holds the caller's bytes by reference.
      await this.call({ op: 'scatter', client: this.id, data: relayed, ...where }, options);
    }
  }

  private interruptFetches(key: string, error: () => Error): void {
    this.fetcher.interrupt(key, error);
  }

  async cancel(states: readonly FutureState[], options: CancelOptions = {}): Promise<void> {
    const reason = options.reason ?? 'cancelled by the client';
    const keys: string[] = [];
    for (const state of states) {
      if (this.states.get(state.key) === state) {
        this.states.delete(state.key);
        keys.push(state.key);
      }
      this.recipes.released([state.key]);
      if (state.cancel(reason)) this.interruptFetches(state.key, () => new CancelledError(state.key, reason));
    }
    if (keys.length === 0 || this.closedError !== undefined) return;
    for (const key of keys) this.cancelling.set(key, (this.cancelling.get(key) ?? 0) + 1);
    try {
      await this.call({ op: 'cancel-keys', client: this.id, keys, force: options.force === true });
    } finally {
      for (const key of keys) {
        const left = this.cancelling.get(key)! - 1;
        if (left === 0) this.cancelling.delete(key);
        else this.cancelling.set(key, left);
      }
    }
  }

  async retry(states: readonly FutureState[]): Promise<void> {
    const keys = [...new Set(states.filter((state) => state.status === 'error').map((state) => state.key))];
    if (keys.length === 0) return;
    await this.call({ op: 'retry', client: this.id, keys });
  }

  /* ---------------------------------------------------------------- */
  /* reports from the scheduler                                         */
  /* ---------------------------------------------------------------- */

  keyInMemory(msg: KeyInMemoryMsg): void {
    if (this.fireAndForgotten.size > 0 && this.fireAndForgotten.delete(msg.key)) this.recipes.released([msg.key]);
    const state = this.states.get(msg.key);
    if (state === undefined) return;
    if (msg.value instanceof Uint8Array && !state.hasValue) state.holdInline(msg.value);
    state.finish(msg.type, msg.nbytes);
  }

  taskErred(msg: TaskErredToClientMsg): void {
    const state = this.states.get(msg.key);
    if (state?.fail(msg.exception) === true) this.interruptFetches(msg.key, () => state.error());
  }

  lostData(msg: LostDataMsg): void {
    const state = this.states.get(msg.key);
    if (state === undefined) return;
    state.moveTo('lost');
    if (state.status === 'lost' && !state.hasRecipe) {
      // Scattered data has no recipe: the scheduler has forgotten it, so waiting would never end.
      state.close(new LostDataError(`${msg.key} was lost with the only worker that held it (scattered data cannot be recomputed)`));
      this.interruptFetches(msg.key, () => state.closedError!);
    }
  }

  cancelledKeys(msg: CancelledKeysMsg): void {
    const reason = msg.reason ?? 'cancelled';
    for (const key of msg.keys) {
      if (this.cancelling.has(key)) continue;
      const state = this.states.get(key);
      if (state === undefined) continue;
      this.states.delete(key);
      this.recipes.released([key]);
      if (state.cancel(reason)) this.interruptFetches(key, () => new CancelledError(key, reason));
    }
  }

  taskRetried(msg: TaskRetriedMsg): void {
    this.states.get(msg.key)?.moveTo('pending');
  }

  event(topic: string, time: number, msg: unknown): void {
    this.topics.deliver(topic, time, msg);
  }

  restart(): void {
    const states = [...this.states.values()];
    this.states.clear();
    for (const state of states) {
      if (state.cancel('scheduler-restart')) {
        this.interruptFetches(state.key, () => new CancelledError(state.key, 'scheduler-restart'));
      }
    }
  }

  schedulerClosed(reason: Error | undefined, peer: Peer): void {
    if (this.closedError !== undefined || peer !== this.scheduler) return;
    if (this.canReconnect()) {
      this.reconnect(peer);
      return;
    }
    if (this.shuttingDown) this.log.debug('the scheduler closed (shutdown)');
    else this.log.warn({ err: reason }, 'lost the connection to the scheduler');
    this.markClosed(new CommClosedError(`lost the connection to the scheduler at ${this.schedulerAddress}`, { cause: reason }));
  }

  /* ---------------------------------------------------------------- */
  /* closing                                                            */
  /* ---------------------------------------------------------------- */

  /** Sends what is queued, says goodbye and closes the connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Still connecting (a task's client): let that finish, so the goodbye reaches the scheduler.
      await this.ready.catch(() => undefined);
      if (this.closedError === undefined && this.scheduler !== undefined && !this.scheduler.closed) {
        this.outbox.flush();
        this.scheduler.send({ op: 'close-client', client: this.id });
      }
      this.markClosed(new CommClosedError('the client is closed'));
      await Promise.all([this.mailbox.close(), this.direct.close()]);
    })();
    return this.closing;
  }

  private markClosed(error: Error): void {
    this.closedError ??= error;
    this.idleWatch?.stop();
    this.idleWatch = undefined;
    this.outbox.discard();
    for (const state of this.states.values()) state.close(error);
    this.fetcher.interruptAll(error);
  }
}

/** `promise`, or `timeout()`'s error after `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timeout()), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Milliseconds from a user timeout (default 10 s) for connecting. */
export function connectTimeout(timeout: number | string | undefined): number {
  return parseDuration(timeout ?? '10s');
}
