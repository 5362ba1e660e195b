/**
 * The user's entry point: connect to a scheduler (or start a LocalCluster in
 * this process), submit work, move data, and manage what the cluster keeps.
 *
 * `submit`, `map`, `compute`, `persist` and `with` return at once; every other
 * method returns a Promise. Submissions made in the same tick travel as one
 * update-graph message.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { CommClosedError, SerializationError } from '../errors.js';
import type { Blob, GraphTask, RunReply, StoryRecord, TaskStreamRecord } from '../protocol/messages.js';
import { deserializeError } from '../protocol/errors.js';
import { decodeValue, encodeValue, encodeValueParts, FrameParts, typeName } from '../protocol/values.js';
import type { RemoteFunction } from '../task-function.js';
import { optionalDuration, parseDuration } from '../units.js';
import { startLocalCluster, type OwnedCluster } from './owned-cluster.js';
import type { Actor } from './actor.js';
import { isPlainObject, replaceReferences } from './arguments.js';
import { registerDefaultClient, unregisterDefaultClient } from './connected-clients.js';
import { collectDelayedGraph, Delayed } from './delayed.js';
import { Future, ownerOf, stateOf } from './future.js';
import { gatherShape, gatherStream, fetchAll, type GatherOptions } from './gather.js';
import { futuresIn, isAsyncIterable, skipEntry, type Gathered } from './gather-shapes.js';
import { compileGraph, flattenKeys, mapKeys, type KeySpec, type TaskGraph } from './graph.js';
import { makeKey, randomToken, tokenize, tokenizePieces } from './keys.js';
import { connectTimeout, ClientSession } from './session.js';
import { mergeTaskOptions, taskSettings, type TaskOptions } from './task-options.js';
import { wait } from './wait.js';
import { MapSlices } from './map-slices.js';
import { slicedArray } from './sliced-array.js';
import { ReadAhead } from './read-ahead.js';
import { buildTask, encodeArguments, shipFunction, type TaskFunction } from './task-spec.js';
import type {
  ClientConnectOptions, PublishOptions, ReplicateOptions, RestartOptions, RetireWorkersOptions, RetireWorkersResult,
  ScatterOptions, SchedulerInfo, WaitForWorkersOptions,
} from './client-options.js';
import { addressOf, type ConnectTarget } from './connect-target.js';
import { zipAsync, zipColumns } from './zip-iterables.js';
import { checkEvent, checkTopic, type TopicHandler } from './topics.js';
import { checkPluginReply, registerPluginMessage, type PluginReply } from './worker-plugin.js';

/** An argument of a task whose parameter has type T: the value, or a Future of it (also inside arrays). */
export type TaskArg<T> = T | Future<T> | (T extends readonly (infer E)[] ? ReadonlyArray<E | Future<E>> : never);
export type TaskArgs<A extends readonly unknown[]> = { [K in keyof A]: TaskArg<A[K]> };
/** `client.with({ actor: true })`: submitting a class gives a Future of its `Actor` proxy. */
export type ActorClient = Omit<Client, 'submit'> & {
  submit<A extends unknown[], R extends object>(cls: new (...args: A) => R, ...args: NoInfer<TaskArgs<A>>): Future<Actor<R>>;
};

/** One iterable per parameter for map. */
export type MapIterables<A extends readonly unknown[]> = { [K in keyof A]: Iterable<TaskArg<A[K]>> };
export type MapAsyncIterables<A extends readonly unknown[]> = {
  [K in keyof A]: Iterable<TaskArg<A[K]>> | AsyncIterable<TaskArg<A[K]>>;
};

const DEFAULT_RETIRE_TIMEOUT_MS = 120_000;
const DEFAULT_RESTART_TIMEOUT_MS = 30_000;
/** Maps of more rows than this are built in slices (map-slices.ts); shorter ones at once. */
const SLICE_MAP_ABOVE = 1024;
/** The scheduler answers a restart's timeout itself; ours is a backstop. */
const RESTART_REPLY_SLACK_MS = 5_000;

interface ClientCore {
  session: ClientSession;
  /** The cluster this client started (and closes). */
  cluster: OwnedCluster | undefined;
  closing: Promise<void> | undefined;
}

let coreOf: (client: Client) => ClientCore;

/**
 * A connection to a scheduler: submit work, move data, and manage what the
 * cluster keeps. `Client.connect()` with no target starts an in-process
 * LocalCluster that the client owns and closes.
 *
 * @example
 * ```ts
 * await using client = await Client.connect();              // or Client.connect('tcp://host:8786')
 * const total = client.submit((a: number, b: number) => a + b, 1, 2);
 * console.log(await total.result());                        // 3
 * ```
 */
export class Client implements AsyncDisposable {
  readonly #core: ClientCore;
  readonly #options: TaskOptions;

  static {
    coreOf = (client) => client.#core;
  }

  private constructor(core: ClientCore, options: TaskOptions) {
    this.#core = core;
    this.#options = options;
  }

  /**
   * No target: start a LocalCluster in this process (threads, no extra
   * processes) and own it. A string: the scheduler's address (`host:port` means
   * `tcp://host:port`); a refused connection is retried until `timeout`. An object: its
   * `schedulerAddress` (LocalCluster) or `address` (Scheduler).
   */
  static async connect(target?: ConnectTarget, options: ClientConnectOptions = {}): Promise<Client> {
    const timeout = connectTimeout(options.timeout);
    let cluster: OwnedCluster | undefined;
    let address: string;
    if (target === undefined) {
      cluster = await startLocalCluster();
      address = cluster.schedulerAddress;
    } else {
      address = addressOf(target);
    }
    const id = options.id ?? `Client-${randomUUID()}`;
    let session: ClientSession;
    try {
      session = await ClientSession.open(address, {
        id,
        name: options.name ?? id,
        timeout,
        ...(options.reconnectTimeout === undefined ? {} : { reconnectTimeout: parseDuration(options.reconnectTimeout) }),
        ...(options.security !== undefined ? { security: options.security } : {}),
      });
    } catch (error) {
      await cluster?.close();
      throw error;
    }
    if (cluster?.letProcessExit !== undefined) {
      // Nothing of the owned cluster keeps the process alive; the session does while it waits.
      cluster.letProcessExit();
      session.holdProcessOnlyWhileBusy();
    }
    const client = new Client({ session, cluster, closing: undefined }, {});
    session.client = client;
    registerDefaultClient(client);
    return client;
  }

  /**
   * @internal A client usable at once, connecting to `address` in the
   * background: what a task's `getClient()` returns (through the client port).
   * Submits queue until connected; a failed connection closes it with the
   * error. Never the default client.
   */
  static connectInBackground(address: string, options: ClientConnectOptions = {}, worker?: string): Client {
    const id = options.id ?? `Client-worker-${randomUUID()}`;
    const session = ClientSession.start(address, {
      id, name: options.name ?? id, timeout: connectTimeout(options.timeout), ...(worker === undefined ? {} : { worker }),
    });
    const client = new Client({ session, cluster: undefined, closing: undefined }, {});
    session.client = client;
    return client;
  }

  get id(): string {
    return this.#core.session.id;
  }

  get schedulerAddress(): string {
    return this.#core.session.address;
  }

  get status(): 'running' | 'closed' {
    return this.#core.session.closed ? 'closed' : 'running';
  }

  /** The LocalCluster this client started, if it started one. */
  get cluster(): OwnedCluster | undefined {
    return this.#core.cluster;
  }

  /** The options this view applies (empty for the client itself). */
  get options(): Readonly<TaskOptions> {
    return this.#options;
  }

  toString(): string {
    return `<Client: scheduler=${this.schedulerAddress} status=${this.status}>`;
  }

  /**
   * A view of this client whose submit, map, scatter, compute, persist and run
   * apply `options` (merged over this view's). Closing a view closes the client.
   */
  with(options: TaskOptions & { actor: true }): ActorClient;
  with(options: TaskOptions): Client;
  with(options: TaskOptions): Client | ActorClient {
    return new Client(this.#core, mergeTaskOptions(this.#options, options));
  }

  /* ---------------------------------------------------------------- */
  /* submitting work                                                    */
  /* ---------------------------------------------------------------- */

  /** Runs `fn(...args)` on a worker; arguments may be Futures (also inside arrays and objects). */
  submit<A extends unknown[], R>(fn: (...args: A) => R, ...args: NoInfer<TaskArgs<A>>): Future<Awaited<R>>;
  submit<A extends unknown[], R>(cls: new (...args: A) => R, ...args: NoInfer<TaskArgs<A>>): Future<R>;
  submit<R = unknown>(fn: RemoteFunction, ...args: unknown[]): Future<R>;
  submit(fn: TaskFunction, ...args: unknown[]): Future<unknown> {
    const session = this.#core.session;
    const key = this.#options.key;
    if (key !== undefined && typeof key !== 'string') throw new TypeError('submit takes a single key (a string); a list of keys is for map');
    const built = buildTask(fn, args, taskSettings(this.#options, key));
    session.checkReferences(built.references);
    return session.submit<unknown>([built.task], [built.task.key])[0]!;
  }

  /**
   * `fn` over the iterables zipped (stopping at the shortest), one task per
   * item. Given an async iterable, returns an async iterable of Futures that
   * submits as items arrive.
   */
  map<A extends unknown[], R>(fn: (...args: A) => R, ...iterables: NoInfer<MapIterables<A>>): Future<Awaited<R>>[];
  map<A extends unknown[], R>(fn: (...args: A) => R, ...iterables: NoInfer<MapAsyncIterables<A>>): AsyncIterable<Future<Awaited<R>>>;
  map<R = unknown>(fn: RemoteFunction, ...iterables: Iterable<unknown>[]): Future<R>[];
  map<R = unknown>(fn: RemoteFunction, ...iterables: Array<Iterable<unknown> | AsyncIterable<unknown>>): AsyncIterable<Future<R>>;
  map(fn: TaskFunction, ...iterables: Array<Iterable<unknown> | AsyncIterable<unknown>>): Future<unknown>[] | AsyncIterable<Future<unknown>> {
    if (iterables.length === 0) throw new TypeError('map needs at least one iterable of arguments');
    for (const iterable of iterables) {
      if (typeof iterable !== 'object' || iterable === null || !(Symbol.iterator in iterable || Symbol.asyncIterator in iterable)) {
        throw new TypeError(`map expects iterables of arguments, got ${iterable === null ? 'null' : typeof iterable}`);
      }
    }
    if (iterables.some((iterable) => isAsyncIterable(iterable) && !(Symbol.iterator in iterable))) {
      return this.#mapStream(fn, iterables);
    }
    const { columns, length } = zipColumns(iterables as Iterable<unknown>[]);
    return this.#mapRows(fn, columns, length);
  }

  #mapRows(fn: TaskFunction, columns: readonly ArrayLike<unknown>[], total: number): Future<unknown>[] {
    const session = this.#core.session;
    const key = this.#options.key;
    const keys = Array.isArray(key) ? (key as readonly string[]) : undefined;
    const prefix = typeof key === 'string' ? key : undefined;
    const shared = taskSettings({ ...this.#options, key: undefined }, undefined, prefix);
    if (keys !== undefined && keys.length !== total) {
      throw new TypeError(`map was given ${keys.length} keys for ${total} items`);
    }
    const width = columns.length;
    const build = (from: number, to: number): Future<unknown>[] => {
      const tasks: GraphTask[] = new Array(to - from);
      for (let index = from; index < to; index++) {
        const row: unknown[] = new Array(width);
        for (let c = 0; c < width; c++) row[c] = columns[c]![index];
        const settings = keys === undefined ? shared : { ...shared, key: keys[index]! };
        const built = buildTask(fn, row, settings);
        session.checkReferences(built.references);
        tasks[index - from] = built.task;
      }
      return session.submit<unknown>(tasks, tasks.map((task) => task.key));
    };
    if (total <= SLICE_MAP_ABOVE) return build(0, total);
    // Long maps: the first slice now (its errors throw from map), the rest as the loop turns.
    const slices = new MapSlices(total, build);
    slices.step();
    return slices.complete ? slices.items : slicedArray(slices);
  }

  /**
   * Over a stream: each row is submitted as soon as it arrives, however slowly
   * the consumer takes the Futures, so the tasks run side by side; reading
   * pauses once READ_AHEAD_HIGH_WATER Futures wait untaken (read-ahead.ts).
   */
  #mapStream(fn: TaskFunction, iterables: Array<Iterable<unknown> | AsyncIterable<unknown>>): AsyncIterable<Future<unknown>> {
    return new ReadAhead(zipAsync(iterables), (row: unknown[]) => this.#mapRows(fn, row.map((value) => [value]), 1)[0]!, {
      discard: (untaken) => {
        for (const future of untaken) future.release();
      },
    });
  }

  /**
   * Lazy nodes (`delayed(fn)(...)`) to Futures: the whole graph goes in one
   * update-graph; only the requested nodes are kept. Futures pass through.
   */
  compute<T>(collection: Delayed<T> | Future<T>): Future<T>;
  compute<T extends readonly (Delayed<unknown> | Future<unknown>)[]>(collections: T): { -readonly [K in keyof T]: Future<ValueOf<T[K]>> };
  compute(collections: Delayed<unknown> | Future<unknown> | readonly (Delayed<unknown> | Future<unknown>)[]): Future<unknown> | Future<unknown>[] {
    const many = Array.isArray(collections);
    const list = (many ? collections : [collections]) as readonly (Delayed<unknown> | Future<unknown>)[];
    const nodes: Delayed[] = [];
    for (const item of list) {
      if (item instanceof Delayed) nodes.push(item);
      else if (!(item instanceof Future)) throw new TypeError(`compute expects delayed nodes or Futures, got ${describe(item)}`);
    }
    const session = this.#core.session;
    const { tasks, futures } = collectDelayedGraph(nodes);
    session.checkReferences(futures);
    const restricted = this.#restrict(tasks);
    const submitted = session.submit<unknown>(restricted, nodes.map((node) => node.key));
    let next = 0;
    const result = list.map((item) => (item instanceof Future ? item : submitted[next++]!));
    return many ? result : result[0]!;
  }

  /** Like compute: starts the work and returns Futures that keep the results on the cluster. */
  persist<T>(collection: Delayed<T> | Future<T>): Future<T>;
  persist<T extends readonly (Delayed<unknown> | Future<unknown>)[]>(collections: T): { -readonly [K in keyof T]: Future<ValueOf<T[K]>> };
  persist(collections: Delayed<unknown> | Future<unknown> | readonly (Delayed<unknown> | Future<unknown>)[]): Future<unknown> | Future<unknown>[] {
    return this.compute(collections as Delayed<unknown>);
  }

  /**
   * Runs a dask-style graph `{ key: value | [fn, ...args] }` and resolves to
   * the values of `keys` (a key, or nested arrays of keys: same shape back).
   * A cycle or an unknown output key is an InvalidGraphError before anything is sent.
   */
  async get<T = unknown>(graph: TaskGraph, keys: KeySpec): Promise<T> {
    const outputs = flattenKeys(keys);
    const compiled = compileGraph(graph, outputs);
    const sentKeys = [...new Set(outputs.map((key) => compiled.keys.get(key)!))];
    const futures = this.#core.session.submit<unknown>(this.#restrict(compiled.tasks), sentKeys);
    try {
      await fetchAll(futures);
      const byKey = new Map(futures.map((future) => [future.key, stateOf(future).value]));
      return mapKeys(keys, (key) => byKey.get(compiled.keys.get(key)!)) as T;
    } finally {
      for (const future of futures) future.release();
    }
  }

  #restrict(tasks: GraphTask[]): GraphTask[] {
    const settings = taskSettings({ ...this.#options, key: undefined, pure: undefined }, undefined);
    if (settings.restrictions === undefined && settings.retries === undefined && settings.priority === undefined) return tasks;
    return tasks.map((task) => ({
      ...task,
      ...(settings.restrictions !== undefined ? { restrictions: settings.restrictions } : {}),
      ...(settings.retries !== undefined ? { retries: settings.retries } : {}),
      ...(settings.priority !== undefined ? { priority: settings.priority } : {}),
    }));
  }

  /* ---------------------------------------------------------------- */
  /* data                                                               */
  /* ---------------------------------------------------------------- */

  /**
   * The values of Futures, in the shape given (a Future, arrays and plain
   * objects nesting them). `errors: 'skip'` leaves failed ones out. Given an
   * async iterable, returns an async iterable of values.
   */
  gather<T>(futures: AsyncIterable<T>, options?: GatherOptions): AsyncIterable<Gathered<T>>;
  gather<T>(futures: T, options?: GatherOptions): Promise<Gathered<T>>;
  gather(futures: unknown, options: GatherOptions = {}): Promise<unknown> | AsyncIterable<unknown> {
    const errors = options.errors ?? 'raise';
    if (errors !== 'raise' && errors !== 'skip') {
      return Promise.reject(new TypeError(`errors must be 'raise' or 'skip', got ${String(errors)}`));
    }
    if (isAsyncIterable(futures)) return gatherStream(futures, errors);
    return gatherShape(futures, errors).then((value) => (value === skipEntry ? undefined : value));
  }

  /**
   * Places local data on workers. An array gives an array of Futures, a plain
   * object a record of Futures keyed by its property names (which become the
   * keys), an async iterable an async iterable of Futures, anything else one Future.
   */
  scatter<T>(data: AsyncIterable<T>, options?: ScatterOptions): AsyncIterable<Future<T>>;
  scatter<T>(data: readonly T[], options?: ScatterOptions): Promise<Future<T>[]>;
  scatter<T extends Record<string, unknown>>(data: T, options?: ScatterOptions): Promise<{ [K in keyof T]: Future<T[K]> }>;
  scatter<T>(data: T, options?: ScatterOptions): Promise<Future<T>>;
  scatter(data: unknown, options: ScatterOptions = {}): Promise<unknown> | AsyncIterable<Future<unknown>> {
    if (isAsyncIterable(data)) return this.#scatterStream(data, options);
    if (Array.isArray(data)) return this.#scatter(data.map((value) => [undefined, value] as const), options);
    if (typeof data === 'object' && data !== null && isPlainObject(data)) {
      const names = Object.keys(data);
      return this.#scatter(names.map((name) => [name, data[name]] as const), options).then((futures) =>
        Object.fromEntries(names.map((name, i) => [name, futures[i]])),
      );
    }
    return this.#scatter([[undefined, data]], options).then((futures) => futures[0]);
  }

  async *#scatterStream(data: AsyncIterable<unknown>, options: ScatterOptions): AsyncGenerator<Future<unknown>> {
    for await (const value of data) yield (await this.#scatter([[undefined, value]], options))[0]!;
  }

  async #scatter(items: ReadonlyArray<readonly [string | undefined, unknown]>, options: ScatterOptions): Promise<Future<unknown>[]> {
    const session = this.#core.session;
    const hash = options.hash ?? true;
    const workers = options.workers ?? this.#options.workers;
    const keys: string[] = [];
    const types = new Map<string, string>();
    const sizes = new Map<string, number>();
    const data: Record<string, Blob | FrameParts> = {};
    let toSend = 0;
    for (const [name, value] of items) {
      if (value instanceof Future) throw new TypeError(`cannot scatter a Future (${value.key}): it is on the cluster already`);
      // Refuses class instances whose methods would be lost on the way (the result is not used).
      if (typeof value === 'object' && value !== null) replaceReferences(value, undefined, name ?? 'the scattered value');
      // A large binary stays in two pieces (header, its own bytes): sent to a worker over TCP, it is never copied here.
      let blob: Blob | FrameParts;
      try {
        blob = encodeValueParts(value);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new SerializationError(`cannot scatter ${name === undefined ? 'this value' : JSON.stringify(name)}: ${reason}`, { cause: error });
      }
      const type = typeName(value);
      const key = name ?? makeKey(type, hash ? (blob instanceof FrameParts ? tokenizePieces(blob.parts) : tokenize(blob)) : randomToken());
      keys.push(key);
      types.set(key, type);
      sizes.set(key, blob.byteLength);
      // Hashed data this client already holds is on the cluster already.
      const known = name === undefined && hash && session.states.get(key)?.status === 'finished';
      if (!known && !(key in data)) {
        data[key] = blob;
        toSend++;
      }
    }
    if (toSend > 0) {
      await session.scatter(
        data,
        {
          ...(workers !== undefined ? { workers: typeof workers === 'string' ? [workers] : [...workers] } : {}),
          ...(options.broadcast === true ? { broadcast: true } : {}),
        },
        options.timeout !== undefined ? { timeout: options.timeout } : undefined,
      );
    }
    return session.adoptInMemory<unknown>(keys, types, sizes, new Set(Object.keys(data)));
  }

  /* ---------------------------------------------------------------- */
  /* managing futures                                                   */
  /* ---------------------------------------------------------------- */

  /**
   * Stops the tasks and drops their results; their Futures (and dependents')
   * become cancelled. Only when no other client wants them, unless `force`.
   */
  async cancel(futures: Future<unknown> | Iterable<Future<unknown>>, options: { force?: boolean; reason?: string } = {}): Promise<void> {
    await Promise.all(groupStates(futuresIn(futures)).map(([owner, states]) => owner.cancel(states, options)));
  }

  /** Runs erred tasks (and their erred dependencies) again. */
  async retry(futures: Future<unknown> | Iterable<Future<unknown>>): Promise<void> {
    await Promise.all(groupStates(futuresIn(futures)).map(([owner, states]) => owner.retry(states)));
  }

  /* ---------------------------------------------------------------- */
  /* the cluster                                                        */
  /* ---------------------------------------------------------------- */

  /**
   * Runs `fn(...args)` on every worker (or the view's `workers`) outside the
   * task system; resolves to `{ workerAddress: result }`. The first worker
   * error rejects the call.
   */
  async run<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<Record<string, Awaited<R>>>;
  async run<R = unknown>(fn: RemoteFunction, ...args: unknown[]): Promise<Record<string, R>>;
  async run(fn: TaskFunction, ...args: unknown[]): Promise<Record<string, unknown>> {
    const shipped = shipFunction(fn);
    const blob = encodeArguments(shipped, args);
    const workers = this.#options.workers;
    const reply = await this.#core.session.call<Record<string, RunReply>>({
      op: 'broadcast-run',
      fn: shipped.ref,
      args: blob,
      ...(workers !== undefined ? { workers: typeof workers === 'string' ? [workers] : [...workers] } : {}),
    });
    const results: Record<string, unknown> = {};
    for (const [address, outcome] of Object.entries(reply)) {
      if (!outcome.ok) throw deserializeError(outcome.error);
      results[address] = decodeValue(outcome.value);
    }
    return results;
  }

  /**
   * Runs `fn(...args)` in the scheduler's process and resolves to its result.
   * Allowed for a scheduler in this program (a LocalCluster, or
   * `Client.connect(scheduler)`) or one started with `--allow-run-on-scheduler`;
   * otherwise rejects with NotAllowedError (schedulers do not run code from the
   * network by default).
   */
  async runOnScheduler<A extends unknown[], R>(fn: (...args: A) => R, ...args: A): Promise<Awaited<R>>;
  async runOnScheduler<R = unknown>(fn: RemoteFunction, ...args: unknown[]): Promise<R>;
  async runOnScheduler(fn: TaskFunction, ...args: unknown[]): Promise<unknown> {
    const shipped = shipFunction(fn);
    const blob = encodeArguments(shipped, args);
    const reply = await this.#core.session.call<Blob>({ op: 'run_on_scheduler', fn: shipped.ref, args: blob });
    return decodeValue(reply);
  }

  /**
   * Sends a worker plugin class by source to every current and future worker,
   * which constructs it with `args` and awaits `setup(worker)`; a last argument
   * `{ name }` names it (default: the class name; the same name replaces).
   * Rejects with a worker's setup error. See docs/dashboard.md.
   */
  async registerWorkerPlugin(plugin: TaskFunction, ...argsAndOptions: unknown[]): Promise<PluginReply> {
    const msg = registerPluginMessage(plugin, argsAndOptions);
    const reply = checkPluginReply(await this.#core.session.call<PluginReply>(msg));
    // Kept to be registered again with a scheduler that restarts (lib/client/registrations.ts).
    this.#core.session.registrations.pluginRegistered(msg);
    return reply;
  }

  async unregisterWorkerPlugin(name: string): Promise<void> {
    await this.#core.session.call({ op: 'unregister-worker-plugin', name });
    this.#core.session.registrations.pluginUnregistered(name);
  }

  /** `{ key: [workerAddress] }` for the given futures (default: every key the scheduler has). */
  whoHas(futures?: Future<unknown> | Iterable<Future<unknown>>): Promise<Record<string, string[]>> {
    const keys = futures === undefined ? undefined : futuresIn(futures).map((future) => future.key);
    return this.#core.session.call({ op: 'who_has', ...(keys !== undefined ? { keys } : {}) });
  }

  /** `{ workerAddress: [key] }` for the given workers (default: all). */
  hasWhat(workers?: string | readonly string[]): Promise<Record<string, string[]>> {
    return this.#core.session.call({ op: 'has_what', ...workersField(workers) });
  }

  /** `{ workerAddress: threads }` for the given workers (default: all). */
  nthreads(workers?: string | readonly string[]): Promise<Record<string, number>> {
    return this.#core.session.call({ op: 'ncores', ...workersField(workers) });
  }

  /**
   * What the scheduler and every worker remember of a key (dask's
   * `client.story`), for debugging: the stimuli that named it and its
   * transitions, as plain records `{ key, where, stimulusId, ts, start?,
   * finish?, stimulus? }` ordered by `ts` (wall-clock ms). Logs are bounded.
   */
  story(key: string | Future<unknown>): Promise<StoryRecord[]> {
    return this.#core.session.call({ op: 'story', key: typeof key === 'string' ? key : key.key });
  }

  /** The scheduler's identity: its address and every worker's name, threads, resources... */
  schedulerInfo(): Promise<SchedulerInfo> {
    return this.#core.session.call({ op: 'identity' });
  }

  /** The dashboard's status page (`http://host:port/status`), or undefined when the scheduler serves none. */
  get dashboardLink(): string | undefined {
    const base = this.#core.session.dashboard;
    return base === undefined ? undefined : `${base}/status`;
  }

  /** Logs a structured event on `topic` (or each of several); `msg` is any serializable value. Also inside tasks. */
  async logEvent(topic: string | string[], msg: unknown): Promise<void> {
    checkEvent(topic, msg);
    await this.#core.session.call({ op: 'log-event', topic, msg });
  }

  /** Calls `handler(time, msg)` for each event logged on `topic` from now on (replacing an earlier handler). */
  async subscribeTopic(topic: string, handler: TopicHandler): Promise<void> {
    if (this.#core.session.topics.set(checkTopic(topic, 'subscribeTopic'), handler)) await this.#core.session.call({ op: 'subscribe-topic', topic, client: this.id });
  }

  async unsubscribeTopic(topic: string): Promise<void> {
    checkTopic(topic, 'unsubscribeTopic');
    if (this.#core.session.topics.delete(topic)) await this.#core.session.call({ op: 'unsubscribe-topic', topic, client: this.id });
  }

  /** The events kept on `topic` (the last 1000), oldest first, as [time (ms since the epoch), msg]; no topic: every topic's. */
  getEvents(topic: string): Promise<Array<[number, unknown]>>;
  getEvents(): Promise<Record<string, Array<[number, unknown]>>>;
  getEvents(topic?: string): Promise<Array<[number, unknown]> | Record<string, Array<[number, unknown]>>> {
    if (topic !== undefined) checkTopic(topic, 'getEvents');
    return this.#core.session.call(topic === undefined ? { op: 'get-events' } : { op: 'get-events', topic });
  }

  /** What ran where and when (the scheduler's last 20,000 records); `start`/`stop`: ms since the epoch, or '60s' ago. */
  getTaskStream(options: { start?: number | string; stop?: number | string } = {}): Promise<TaskStreamRecord[]> {
    return this.#core.session.call({ op: 'get-task-stream', start: options.start ?? null, stop: options.stop ?? null });
  }

  /** Resolves once at least `n` workers are connected; TimeoutError after `timeout`. */
  async waitForWorkers(n: number, options: WaitForWorkersOptions = {}): Promise<void> {
    if (!(Number.isInteger(n) && n >= 0)) throw new TypeError(`waitForWorkers expects a non-negative integer, got ${String(n)}`);
    const timeout = optionalDuration(options.timeout);
    await this.#core.session.call({ op: 'wait_for_workers', n, ...(timeout !== undefined ? { timeout } : {}) });
  }

  /**
   * Cancels every Future of every client (they become `cancelled`), forgets
   * all tasks, restarts every worker process through its nanny (a worker
   * without one is closed) and resolves once as many workers are back;
   * TimeoutError after `timeout` (default 30 s).
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    const timeout = optionalDuration(options.timeout);
    await this.#core.session.call(
      { op: 'restart', ...(timeout !== undefined ? { timeout } : {}) },
      { timeout: (timeout ?? DEFAULT_RESTART_TIMEOUT_MS) + RESTART_REPLY_SLACK_MS },
    );
  }

  /**
   * Ships a file (a module: .js, .mjs, .cjs, or data such as .json) to every
   * worker, and to workers that join later. Tasks use an uploaded module with
   * `remote('upload:<file name>', 'exportName')`.
   */
  async uploadFile(path: string): Promise<void> {
    const bytes = await readFile(path);
    const msg = { op: 'upload_file', filename: basename(path), data: bytes };
    await this.#core.session.call(msg, { timeout: '60s' });
    // Kept to be uploaded again to a scheduler that restarts (lib/client/registrations.ts).
    this.#core.session.registrations.fileUploaded(msg);
  }

  /** Copies the futures' data to `n` workers (default: every worker, or every one of `workers`). */
  async replicate(futures: Future<unknown> | Iterable<Future<unknown>>, options: ReplicateOptions = {}): Promise<void> {
    const list = futuresIn(futures);
    await wait(list);
    await this.#core.session.call({
      op: 'replicate',
      keys: list.map((future) => future.key),
      ...(options.n !== undefined ? { n: options.n } : {}),
      ...workersField(options.workers),
    });
  }

  /** Moves data so the workers (default all) hold about equal bytes of the futures' keys (default every key). */
  async rebalance(futures?: Future<unknown> | Iterable<Future<unknown>>, workers?: string | readonly string[]): Promise<void> {
    const list = futures === undefined ? undefined : futuresIn(futures);
    if (list !== undefined) await wait(list);
    await this.#core.session.call({
      op: 'rebalance',
      ...(list !== undefined ? { keys: list.map((future) => future.key) } : {}),
      ...workersField(workers),
    });
  }

  /**
   * Retires workers gracefully (dask's `retire_workers`): no new tasks go to
   * them, they finish what they run, the data only they hold is copied to the
   * other workers, and then they are closed (with their nanny: it does not
   * restart them). Nothing in memory is lost and nothing is recomputed. A
   * worker whose data has nowhere to go stays and is listed in `notRetired`.
   */
  async retireWorkers(workers?: string | readonly string[], options: RetireWorkersOptions = {}): Promise<RetireWorkersResult> {
    if (workers === undefined && options.n === undefined) throw new TypeError('retireWorkers: give the workers (addresses or names), or options.n');
    const timeout = optionalDuration(options.timeout);
    return this.#core.session.call<RetireWorkersResult>(
      {
        op: 'retire_workers',
        ...workersField(workers),
        ...(options.n !== undefined ? { n: options.n } : {}),
        ...(timeout !== undefined ? { timeout } : {}),
      },
      { timeout: (timeout ?? DEFAULT_RETIRE_TIMEOUT_MS) + RESTART_REPLY_SLACK_MS },
    );
  }

  /* ---------------------------------------------------------------- */
  /* datasets                                                           */
  /* ---------------------------------------------------------------- */

  /**
   * Names `value` on the scheduler for other clients (`getDataset`). Futures
   * inside it stay alive while the dataset is published.
   */
  async publishDataset(name: string, value: unknown, options: PublishOptions = {}): Promise<void> {
    checkDatasetName(name);
    const { value: replaced, references } = replaceReferences(value, undefined, 'dataset');
    for (const reference of references.values()) {
      if (!(reference instanceof Future)) throw new TypeError('publishDataset takes values and Futures; compute delayed nodes first');
    }
    this.#core.session.checkReferences(references);
    let data: Blob;
    try {
      data = encodeValue(replaced);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new SerializationError(`cannot publish ${JSON.stringify(name)}: ${reason}`, { cause: error });
    }
    await this.#core.session.call({
      op: 'publish_put',
      client: this.id,
      name,
      keys: [...references.keys()],
      data,
      override: options.override === true,
    });
  }

  /** The value published under `name`, its Futures bound to this client. Rejects if there is none. */
  async getDataset<T = unknown>(name: string): Promise<T> {
    checkDatasetName(name);
    const session = this.#core.session;
    const reply = await session.call<{ keys: string[]; data: Blob }>({ op: 'publish_get', name });
    const fresh = reply.keys.filter((key) => !session.states.has(key));
    const futures = new Map(reply.keys.map((key) => [key, session.future<unknown>(key)] as const));
    session.desireKeys(fresh);
    return decodeValue(reply.data, futures) as T;
  }

  listDatasets(): Promise<string[]> {
    return this.#core.session.call({ op: 'publish_list' });
  }

  async unpublishDataset(name: string): Promise<void> {
    checkDatasetName(name);
    await this.#core.session.call({ op: 'publish_delete', name });
  }

  /* ---------------------------------------------------------------- */
  /* closing                                                            */
  /* ---------------------------------------------------------------- */

  /** Releases everything this client holds and disconnects; closes the cluster it started. Idempotent. */
  close(): Promise<void> {
    const core = this.#core;
    core.closing ??= (async () => {
      unregisterDefaultClient(core.session.client);
      await core.session.close();
      await core.cluster?.close();
    })();
    return core.closing;
  }

  /** Closes the scheduler and its workers (affects every client of that cluster), then this client. */
  async shutdown(): Promise<void> {
    const core = this.#core;
    if (core.cluster === undefined && !core.session.closed) {
      core.session.shuttingDown = true;
      try {
        await core.session.call({ op: 'terminate' }, { timeout: '10s' });
      } catch (error) {
        // The scheduler closing under the call is the expected way for it to end.
        if (!(error instanceof CommClosedError)) throw error;
      }
    }
    await this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

type ValueOf<X> = X extends Delayed<infer U> ? U : X extends Future<infer U> ? U : never;

/** Internal: the live session behind a client (for coordination primitives and getClient). */
export function sessionOf(client: Client): ClientSession {
  return coreOf(client).session;
}

function workersField(workers: string | readonly string[] | undefined): { workers?: string[] } {
  if (workers === undefined) return {};
  return { workers: typeof workers === 'string' ? [workers] : [...workers] };
}

function checkDatasetName(name: string): void {
  if (typeof name !== 'string' || name === '') throw new TypeError('a dataset name must be a non-empty string');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function groupStates(futures: readonly Future<unknown>[]): Array<[ReturnType<typeof ownerOf>, ReturnType<typeof stateOf>[]]> {
  const groups = new Map<ReturnType<typeof ownerOf>, Set<ReturnType<typeof stateOf>>>();
  for (const future of futures) {
    const owner = ownerOf(future);
    let states = groups.get(owner);
    if (states === undefined) groups.set(owner, (states = new Set()));
    states.add(stateOf(future));
  }
  return [...groups].map(([owner, states]) => [owner, [...states]]);
}

export type { GatherOptions, KeySpec, TaskGraph, TaskOptions };
export type {
  ClientConnectOptions, ConnectTarget, PublishOptions, ReplicateOptions, RestartOptions, RetireWorkersOptions,
  RetireWorkersResult, ScatterOptions, SchedulerInfo, WaitForWorkersOptions,
};
