/**
 * The worker's side of its tasks (main thread): `secede`/`rejoin` become
 * WorkerState events, a rejoin resolves when WorkerState grants the slot, and
 * each piscina thread's link port (lib/worker/thread-link.ts) is served here
 * through comlink. Code the worker runs on its main thread (client.run, actor
 * methods) uses this host directly.
 */
import type { MessagePort } from 'node:worker_threads';
import { expose } from 'comlink';
import { portEndpoint } from '../comm/comlink-port.js';
import { acceptInprocPort } from '../comm/inproc.js';
import { CommClosedError } from '../errors.js';
import type { RegisteredClient, TaskHost, WorkerInfo } from '../task-context.js';
import type { ThreadHostApi } from './thread-link.js';
import { WorkerClient } from './worker-client.js';

export type SlotEvent = { op: 'secede'; key: string } | { op: 'rejoin'; key: string };

export class WorkerTaskHost implements TaskHost {
  private readonly rejoinWaiters = new Map<string, Array<{ resolve: () => void; reject: (error: Error) => void }>>();
  private readonly links = new Set<MessagePort>();
  private readonly workerClient: WorkerClient;
  private closed = false;
  private readonly threadApi: ThreadHostApi = {
    secede: (key) => this.secede(key),
    rejoin: (key) => this.rejoin(key),
    dial: (address, port, localAddress) => acceptInprocPort(address, port, localAddress),
  };

  constructor(
    readonly info: WorkerInfo,
    /** Delivers the event to the worker's WorkerState. */
    private readonly feed: (event: SlotEvent) => void,
  ) {
    this.workerClient = new WorkerClient(info.schedulerAddress, `${info.name}-client`, info.address);
  }

  secede(key: string): void {
    if (typeof key !== 'string') throw new TypeError('secede: key must be a string');
    this.feed({ op: 'secede', key });
  }

  rejoin(key: string): Promise<void> {
    if (typeof key !== 'string') return Promise.reject(new TypeError('rejoin: key must be a string'));
    if (this.closed) return Promise.reject(new CommClosedError('the worker is closing'));
    return new Promise<void>((resolve, reject) => {
      let waiters = this.rejoinWaiters.get(key);
      if (waiters === undefined) this.rejoinWaiters.set(key, (waiters = []));
      waiters.push({ resolve, reject });
      if (waiters.length === 1) this.feed({ op: 'rejoin', key });
    });
  }

  /** WorkerState gave `key` a slot again. */
  rejoinGranted(key: string): void {
    const waiters = this.rejoinWaiters.get(key);
    if (waiters === undefined) return;
    this.rejoinWaiters.delete(key);
    for (const waiter of waiters) waiter.resolve();
  }

  client(): RegisteredClient {
    return this.workerClient.client();
  }

  /** Serves the link port a thread posted (its calls arrive here in order). */
  serveThread(port: MessagePort): void {
    if (this.closed) {
      port.close();
      return;
    }
    expose(this.threadApi, portEndpoint(port));
    port.unref();
    this.links.add(port);
    port.once('close', () => this.links.delete(port));
  }

  /** Closes thread links and the worker's client; pending rejoins reject. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new CommClosedError('the worker is closing');
    for (const waiters of this.rejoinWaiters.values()) for (const waiter of waiters) waiter.reject(error);
    this.rejoinWaiters.clear();
    for (const port of this.links) port.close();
    this.links.clear();
    await this.workerClient.close();
  }
}
