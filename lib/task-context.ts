/**
 * Which task the running code belongs to, and what it can ask of its worker:
 * `getWorker()`, `secede()`, `rejoin()`, `getClient()`.
 *
 * The context travels with the task's async continuation (AsyncLocalStorage),
 * because one thread may run several tasks at once (a seceded task keeps
 * running while others start). The worker side is a `TaskHost`: in a piscina
 * thread it forwards to the worker's main thread over a port
 * (lib/worker/thread-link.ts); on the main thread (client.run, actor methods)
 * it is the worker's own host (lib/worker/task-host.ts).
 *
 * This file is neutral ground: the client (lib/client) asks it "am I in a
 * task?" and the worker (lib/worker) sets it, yet neither imports the other.
 * Clients come through a port that lib/client registers at package load
 * (`registerClientPort`, called by lib/index.ts and the thread entry), so a
 * worker asks the port for a client and never imports one.
 *
 * Blocking waits inside a task (gathering results, waiting on futures) go
 * through `blockingWait`: the task gives its slot back while it waits and
 * takes one again afterwards, so tasks that wait on subtasks cannot fill
 * every slot of a worker and deadlock it (docs/tasks-from-tasks.md).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DistributedError } from './errors.js';

/** What this file needs of a client: the port's clients are real Clients. */
export interface PortClient {
  readonly id: string;
  readonly status: 'running' | 'closed';
  close(): Promise<void>;
}

/**
 * The Client type, filled in by lib/client/client-port.ts through module
 * augmentation, so `getClient()` is typed as the Client without this file
 * importing it.
 */
export interface ClientTypes {}
export type RegisteredClient = ClientTypes extends { client: infer C } ? C : PortClient;

/** How code here gets clients; registered by lib/client (installClientPort). */
export interface ClientPort {
  /**
   * A client for a worker's tasks, returned at once and connecting in the
   * background (submits wait in its outbox). Never the process's default client.
   */
  workerClient(schedulerAddress: string, name: string, worker?: string): RegisteredClient;
  /** The newest connected client of this process, if any. */
  defaultClient(): RegisteredClient | undefined;
}

let port: ClientPort | undefined;

/** Registers the client port (lib/client/client-port.ts does, once per thread). */
export function registerClientPort(clientPort: ClientPort): void {
  port = clientPort;
}

/** The registered port; throws a clear error when nothing registered one. */
export function clientPort(): ClientPort {
  if (port === undefined) {
    throw new DistributedError("no client port is registered: import 'distributed-ts' (the package root) before asking for a client");
  }
  return port;
}

/** What `getWorker()` tells a task about the worker running it. */
export interface WorkerInfo {
  /** Where peers and clients reach the worker. */
  address: string;
  name: string;
  nthreads: number;
  schedulerAddress: string;
  pid: number;
}

/** The worker side of the running code. */
export interface TaskHost {
  readonly info: WorkerInfo;
  /** Gives `key`'s thread slot back (the scheduler hears `long-running`). */
  secede(key: string): void;
  /** Resolves once `key` holds a thread slot again. */
  rejoin(key: string): Promise<void>;
  /** This worker's client (one per thread): returned at once, connecting in the background on first use. */
  client(): RegisteredClient;
}

export interface TaskContext {
  /** undefined for code that is not a task (client.run, actor methods): it holds no slot. */
  readonly key: string | undefined;
  readonly host: TaskHost;
  /** False once the task seceded (explicitly, or while it waits). */
  holdsSlot: boolean;
  /** Blocking waits in progress that seceded implicitly. */
  implicitWaits: number;
}

const storage = new AsyncLocalStorage<TaskContext>();

/** Runs `fn` as task `key` (undefined: worker code that is not a task) on `host`. */
export function runInTask<T>(host: TaskHost, key: string | undefined, fn: () => T): T {
  return storage.run({ key, host, holdsSlot: key !== undefined, implicitWaits: 0 }, fn);
}

/** The context of the task running now, if any. */
export function currentTask(): TaskContext | undefined {
  return storage.getStore();
}

/**
 * Describes the worker running the current task; throws outside a task.
 *
 * @example
 * ```ts
 * const where = async () => (await import('distributed-ts')).getWorker().address;
 * console.log(await client.submit(where).result());
 * ```
 */
export function getWorker(): WorkerInfo {
  const context = storage.getStore();
  if (context === undefined) {
    throw new DistributedError('getWorker() was called outside a task: it only works in code a worker runs (a task, client.run, an actor method)');
  }
  return { ...context.host.info };
}

/**
 * Gives the current task's thread slot back, so the worker can start another
 * task while this one waits (e.g. on a socket or on other tasks). The task
 * keeps running. Outside a task this does nothing.
 *
 * @example
 * ```ts
 * secede();                          // give the thread back while waiting on a socket
 * const reply = await fetch(url);
 * await rejoin();
 * ```
 */
export function secede(): void {
  const context = storage.getStore();
  if (context === undefined || context.key === undefined || !context.holdsSlot) return;
  context.holdsSlot = false;
  context.host.secede(context.key);
}

/**
 * After `secede()`: waits until the worker has a free slot and takes it. Outside a task it resolves at once.
 *
 * @example
 * ```ts
 * secede();
 * await somethingSlow();
 * await rejoin();                    // take a thread slot again
 * ```
 */
export async function rejoin(): Promise<void> {
  const context = storage.getStore();
  if (context === undefined || context.key === undefined || context.holdsSlot || context.implicitWaits > 0) return;
  await context.host.rejoin(context.key);
  context.holdsSlot = true;
}

/**
 * `wait`, but if the current task holds a slot it gives it back until the
 * wait (and every other blocking wait it overlaps) ends, then takes one
 * again. Outside a task, or in a task that seceded already, just `wait`.
 */
export function blockingWait<T>(wait: Promise<T>): Promise<T> {
  const context = storage.getStore();
  if (context === undefined || context.key === undefined) return wait;
  if (context.implicitWaits === 0) {
    if (!context.holdsSlot) return wait;
    context.holdsSlot = false;
    context.host.secede(context.key);
  }
  context.implicitWaits++;
  return waitSeceded(context, context.key, wait);
}

async function waitSeceded<T>(context: TaskContext, key: string, wait: Promise<T>): Promise<T> {
  try {
    return await wait;
  } finally {
    if (--context.implicitWaits === 0) {
      await context.host.rejoin(key);
      context.holdsSlot = true;
    }
  }
}

/**
 * The client for code running in a task (the worker's, returned at once:
 * it connects in the background and queues submits meanwhile, as dask's
 * `get_client()`), else the newest connected Client. Synchronous; `await
 * getClient()` works too, since a Client is not thenable.
 *
 * @example
 * ```ts
 * async function fanOut(n: number) {
 *   const { getClient } = await import('distributed-ts');
 *   return getClient().gather(getClient().map((i: number) => i * i, [...Array(n).keys()]));
 * }
 * ```
 */
export function getClient(): RegisteredClient {
  const context = storage.getStore();
  if (context !== undefined) return context.host.client();
  const client = port?.defaultClient();
  if (client === undefined) {
    throw new DistributedError('getClient(): no client is connected and this code is not running in a task; use Client.connect()');
  }
  return client;
}
