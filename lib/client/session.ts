/**
 * One client's live state: its connection to the scheduler, the FutureState
 * of every key it holds Futures for, reference counting, the coalescing
 * outbox and result fetching. The public Client is built on top of this; a
 * Future talks to it as its FutureOwner.
 */
import type { Logger } from 'pino';
import type { Peer } from '../comm/mailbox.js';
import { CancelledError, CommClosedError, ConnectError, InvalidGraphError, LostDataError, TimeoutError } from '../errors.js';
import { childLogger } from '../logging.js';
import type {
  Blob, CancelledKeysMsg, GraphTask, KeyInMemoryMsg, LostDataMsg, OpDict, TaskErredToClientMsg, TaskRetriedMsg,
} from '../protocol/messages.js';
import { decodeValue, decodeWithViews } from '../protocol/values.js';
import { parseDuration } from '../units.js';
import { ClientMailbox, type SchedulerReports } from './client-mailbox.js';
import { formatMs } from '../deadline.js';
import { Future, ownerOf, stateOf, type CancelOptions, type FutureOwner } from './future.js';
import { FutureState } from './future-state.js';
import { Outbox } from './outbox.js';
import { whenAllDone } from './settle-all.js';
import { ActorHolds } from './actor-holds.js';
import { blockingWait } from '../task-context.js';
import type { TaskReference } from './arguments.js';
import { DirectData } from './direct-data.js';
import { DIRECT_TRANSFER_MIN_BYTES, isDirectlyReachable } from '../protocol/direct-transfer.js';
import type { RegisteredClient as Client } from '../task-context.js';

/** Back-off between connection attempts while Client.connect's timeout lasts. */
const FIRST_CONNECT_RETRY_MS = 50;
const MAX_CONNECT_RETRY_MS = 1000;

export interface GatherReply {
  data: Record<string, Blob>;
  missing?: string[];
  /** Large values to fetch from these workers directly (when the gather asked for `direct`). */
  direct?: Record<string, string[]>;
}

/** What a fetch got: from the scheduler's reply, straight from workers over TCP, and keys nobody has. */
interface FetchedData {
  relayed: Record<string, Blob>;
  fromWorkers: Record<string, Blob>;
  missing: string[];
}

export interface OpenOptions {
  id: string;
  name: string;
  /** Milliseconds for connecting and registering together. */
  timeout: number;
}

interface FetchBatch {
  states: FutureState[];
  done: Promise<void>;
}

/** Rejects a running fetch as soon as one of its keys errs, is cancelled, or the client closes. */
class FetchWatch {
  readonly interrupted: Promise<never>;
  interrupt!: (error: Error) => void;

  constructor(readonly keys: ReadonlySet<string>) {
    this.interrupted = new Promise<never>((_, reject) => {
      this.interrupt = reject;
    });
    this.interrupted.catch(() => undefined);
  }
}

export class ClientSession implements FutureOwner, SchedulerReports {
  /** The FutureState of every key this client holds Futures for. */
  readonly states = new Map<string, FutureState>();
  /** The public Client (set by it right after opening). */
  client!: Client;
  readonly log: Logger;

  private readonly mailbox: ClientMailbox;
  private scheduler: Peer | undefined;
  private readonly outbox: Outbox;
  private readonly registry: FinalizationRegistry<FutureState>;
  /** Fetched actor proxies count as references to their keys. */
  private readonly actorHolds = new ActorHolds((state) => this.dropReference(state));
  private readonly watches = new Set<FetchWatch>();
  /** Keys this client is cancelling: the scheduler's `cancelled-keys` echo for them is not news. */
  private readonly cancelling = new Map<string, number>();
  private closedError: Error | undefined;
  private closing: Promise<void> | undefined;
  /** The fetch the current tick's result() calls join. */
  private batch: FetchBatch | undefined;
  private schedulerAddress = '';
  /**
   * Values relayed by the scheduler: over TCP they arrive in memory of this
   * process's own, so a large binary is handed over as a view of it;
   * in-process the bytes are the worker's stored ones, so they are copied.
   */
  private decodeRelayed: (blob: Uint8Array) => unknown = decodeValue;
  /** Fetches large values from workers reachable over TCP directly, not through the scheduler. */
  private readonly direct: DirectData;
  /** Set by shutdown(): the scheduler closing the connection is expected. */
  shuttingDown = false;

  /** Resolves once connected and registered; rejects (and the session is closed) if that fails. */
  private ready: Promise<void> = Promise.resolve();

  private constructor(readonly id: string, held: boolean) {
    this.log = childLogger('client', { client: id });
    this.mailbox = new ClientMailbox(this, id);
    this.direct = new DirectData(id);
    this.outbox = new Outbox((msg) => this.scheduler!.send(msg), { held });
    this.registry = new FinalizationRegistry((state) => this.dropReference(state));
  }

  /** Connects to the scheduler and registers; rejects with ConnectError or TimeoutError within `timeout`. */
  static async open(address: string, options: OpenOptions): Promise<ClientSession> {
    const session = new ClientSession(options.id, false);
    await session.connect(address, options);
    return session;
  }

  /**
   * A session usable at once, connecting in the background (a task's
   * `getClient()`): submits and releases queue until the connection is up,
   * calls wait for it. If connecting fails, the session closes with that error.
   */
  static start(address: string, options: OpenOptions): ClientSession {
    const session = new ClientSession(options.id, true);
    session.schedulerAddress = address;
    session.ready = session.connect(address, options).then(() => session.outbox.open());
    session.ready.catch(() => undefined);
    return session;
  }

  private async connect(address: string, options: OpenOptions): Promise<void> {
    const started = performance.now();
    try {
      const peer = await this.connectRetrying(address, options.timeout, started);
      this.scheduler = peer;
      this.schedulerAddress = address;
      if (!address.startsWith('inproc://')) this.decodeRelayed = decodeWithViews;
      const left = Math.max(1, options.timeout - (performance.now() - started));
      try {
        const reply = await peer.call<{ address?: unknown }>({ op: 'register-client', client: options.id, name: options.name }, { timeout: left });
        // Connected in-process to a scheduler that also listens on TCP: report the address others can use.
        if (address.startsWith('inproc://') && typeof reply?.address === 'string' && reply.address !== '') this.schedulerAddress = reply.address;
      } catch (error) {
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
        if (!(error instanceof ConnectError)) throw error;
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

  /** An RPC to the scheduler; everything queued in the outbox goes first. */
  call<T>(msg: OpDict, options?: { timeout?: number | string }): Promise<T> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    if (this.scheduler === undefined) return this.ready.then(() => this.call<T>(msg, options));
    this.outbox.flush();
    return this.scheduler.call<T>(msg, options);
  }

  /** A stream message, in order with queued submissions and releases. */
  send(msg: OpDict): void {
    if (this.closedError !== undefined) throw this.closedError;
    this.outbox.message(msg);
  }

  /** Tells the scheduler that `client` (default: this one) wants `keys`. */
  desireKeys(keys: readonly string[], client = this.id): void {
    if (this.closedError !== undefined) throw this.closedError;
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
    if (tasks.length === 1 && outputs.length === 1 && tasks[0]!.key === outputs[0]) {
      // One submit: the common case, without the bookkeeping below.
      const key = outputs[0]!;
      let state = this.states.get(key);
      if (state === undefined) {
        this.states.set(key, (state = new FutureState(key)));
        this.outbox.updateGraph(this.id, tasks, outputs);
      }
      return [new Future<T>(state, this)];
    }
    const fresh: GraphTask[] = [];
    const queued = new Set<string>();
    for (const task of tasks) {
      if (this.states.has(task.key) || queued.has(task.key)) continue;
      queued.add(task.key);
      fresh.push(task);
    }
    const wanted: string[] = [];
    for (const key of outputs) {
      if (!this.states.has(key)) {
        this.states.set(key, new FutureState(key));
        wanted.push(key);
      }
    }
    if (fresh.length > 0 || wanted.length > 0) this.outbox.updateGraph(this.id, fresh, wanted);
    return outputs.map((key) => new Future<T>(this.states.get(key)!, this));
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
    this.registry.register(future, state, future);
  }

  disown(future: Future<unknown>, state: FutureState): void {
    this.registry.unregister(future);
    this.dropReference(state);
  }

  private dropReference(state: FutureState): void {
    if (--state.refs > 0) {
      this.actorHolds.dropped(state);
      return;
    }
    state.dropValue();
    if (this.states.get(state.key) !== state) return;
    this.states.delete(state.key);
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

  async results(states: readonly FutureState[]): Promise<unknown[]> {
    let missing: FutureState[] | undefined;
    for (const state of states) {
      throwIfUnusable(state);
      if (!state.hasValue && !this.decodeInline(state)) (missing ??= []).push(state);
    }
    if (missing !== undefined) {
      // Small values arrive with key-in-memory: wait for that news before asking for them.
      const pending = missing.filter((state) => !state.done);
      if (pending.length > 0) await blockingWait(whenAllDone(pending));
      const left = missing.filter((state) => {
        throwIfUnusable(state);
        return !state.hasValue && !this.decodeInline(state);
      });
      if (left.length > 0) await blockingWait(this.fetchBatched(left));
    }
    return states.map((state) => state.value);
  }

  /** Decodes a value that came inline with key-in-memory; false when there is none. */
  private decodeInline(state: FutureState): boolean {
    const blob = state.blob;
    if (blob === undefined) return false;
    state.setValue(decodeValue(blob));
    this.actorHolds.fetched(state);
    return true;
  }

  /**
   * Fetches made in the same tick share one `gather` RPC (`Promise.all` over
   * many `result()` calls is one round trip). If the batch fails because of
   * somebody else's key, the others fetch again in a new batch.
   */
  private fetchBatched(states: readonly FutureState[]): Promise<void> {
    let batch = this.batch;
    if (batch === undefined) {
      const fresh: FetchBatch = { states: [], done: undefined as unknown as Promise<void> };
      fresh.done = Promise.resolve().then(() => {
        if (this.batch === fresh) this.batch = undefined;
        return this.fetch(fresh.states);
      });
      this.batch = batch = fresh;
    }
    for (const state of states) batch.states.push(state);
    const joined = batch;
    return joined.done.catch((error: unknown) => {
      for (const state of states) throwIfUnusable(state);
      const left = states.filter((state) => !state.hasValue);
      if (left.length === 0) return;
      const mine = new Set(states);
      const someoneElse = joined.states.some((state) => !mine.has(state) && isUnusable(state));
      if (!someoneElse) throw error;
      return this.fetchBatched(left);
    });
  }

  /**
   * One `gather` RPC for all `states` without a cached value. The scheduler
   * holds the reply until every key is in memory, so a pending future needs no
   * `key-in-memory` round trip first; a key that errs, is cancelled, or a
   * closing client interrupts the wait at once.
   */
  private async fetch(states: readonly FutureState[]): Promise<void> {
    const keys = [...new Set(states.map((state) => state.key))];
    const watch = new FetchWatch(new Set(keys));
    this.watches.add(watch);
    let reply: FetchedData;
    try {
      reply = await Promise.race([this.gatherData(keys), watch.interrupted]);
    } catch (error) {
      for (const state of states) throwIfUnusable(state);
      throw error;
    } finally {
      this.watches.delete(watch);
    }
    for (const state of states) {
      if (state.hasValue) continue;
      const own = reply.fromWorkers[state.key];
      const blob = own ?? reply.relayed[state.key];
      if (blob !== undefined) {
        // Fetched from a worker over TCP: memory of this client's own, so large binaries stay views of it.
        state.setValue(own !== undefined ? decodeWithViews(blob) : this.decodeRelayed(blob));
        this.actorHolds.fetched(state);
        continue;
      }
      // The scheduler waits for keys it knows: a missing key is one it has forgotten.
      throwIfUnusable(state);
      throw new LostDataError(
        state.status === 'lost'
          ? `${state.key} was lost with the only worker that held it and cannot be recomputed`
          : `${state.key} is not on the cluster any more (its data was lost or released)`,
      );
    }
  }

  /**
   * The scheduler's gather, with large values held by workers this client
   * reaches over TCP fetched from those workers directly; whatever that does
   * not get (a worker this client cannot reach, or one that lost the key)
   * comes through the scheduler after all.
   */
  private async gatherData(keys: string[]): Promise<FetchedData> {
    const reply = await this.call<GatherReply>({ op: 'gather', keys, direct: true });
    const fetched: FetchedData = { relayed: reply.data, fromWorkers: {}, missing: reply.missing ?? [] };
    if (reply.direct === undefined) return fetched;
    const overTcp: Record<string, string[]> = {};
    const viaScheduler: string[] = [];
    for (const [key, holders] of Object.entries(reply.direct)) {
      const reachable = holders.filter(isDirectlyReachable);
      if (reachable.length > 0) overTcp[key] = reachable;
      else viaScheduler.push(key);
    }
    const direct = await this.direct.fetch(overTcp);
    fetched.fromWorkers = direct.data;
    viaScheduler.push(...direct.failed);
    if (viaScheduler.length > 0) {
      const relayed = await this.call<GatherReply>({ op: 'gather', keys: viaScheduler });
      Object.assign(fetched.relayed, relayed.data);
      fetched.missing.push(...(relayed.missing ?? []));
    }
    return fetched;
  }

  /**
   * Places scattered values on workers: those of DIRECT_TRANSFER_MIN_BYTES or
   * more straight from this client when every worker the scheduler plans for
   * them is reachable over TCP, the rest (and whatever a worker refused)
   * through the scheduler.
   */
  async scatter(data: Record<string, Blob>, where: { workers?: string[]; broadcast?: boolean }, options?: { timeout?: number | string }): Promise<void> {
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
    if (Object.keys(relayed).length > 0) await this.call({ op: 'scatter', client: this.id, data: relayed, ...where }, options);
  }

  private interruptFetches(key: string, error: () => Error): void {
    for (const watch of this.watches) if (watch.keys.has(key)) watch.interrupt(error());
  }

  async cancel(states: readonly FutureState[], options: CancelOptions = {}): Promise<void> {
    const reason = options.reason ?? 'cancelled by the client';
    const keys: string[] = [];
    for (const state of states) {
      if (this.states.get(state.key) === state) {
        this.states.delete(state.key);
        keys.push(state.key);
      }
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
    const state = this.states.get(msg.key);
    if (state === undefined) return;
    if (msg.value instanceof Uint8Array && !state.hasValue) state.blob = msg.value;
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
      if (state.cancel(reason)) this.interruptFetches(key, () => new CancelledError(key, reason));
    }
  }

  taskRetried(msg: TaskRetriedMsg): void {
    this.states.get(msg.key)?.moveTo('pending');
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

  schedulerClosed(reason?: Error): void {
    if (this.closedError !== undefined) return;
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
    this.outbox.discard();
    for (const state of this.states.values()) state.close(error);
    for (const watch of this.watches) watch.interrupt(error);
  }
}

function isUnusable(state: FutureState): boolean {
  return state.status === 'error' || state.status === 'cancelled' || (state.closedError !== undefined && !state.hasValue);
}

/** Throws what waiting on `state` can only end with: its task error, CancelledError, or the client's closing. */
function throwIfUnusable(state: FutureState): void {
  if (state.status === 'error' || state.status === 'cancelled') throw state.error();
  if (state.closedError !== undefined && !state.hasValue) throw state.closedError;
}

/** Milliseconds from a user timeout (default 10 s) for connecting. */
export function connectTimeout(timeout: number | string | undefined): number {
  return parseDuration(timeout ?? '10s');
}
