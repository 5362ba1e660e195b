/**
 * How code in a piscina thread reaches its worker's main thread: one
 * MessagePort per thread, opened on first use (the thread posts one end
 * through piscina's parentPort; the pool hands it to the worker's TaskHost),
 * carrying comlink calls — `secede`, `rejoin`, and `dial` (an inproc
 * connection to a listener on the main thread, such as the scheduler's or
 * another worker's, which this thread cannot dial itself).
 *
 * Calls go through `guardedRemote`, so none of them hangs when the worker
 * closes the port or its thread goes away.
 */
import { MessageChannel, parentPort, type MessagePort } from 'node:worker_threads';
import { transfer } from 'comlink';
import { guardedRemote, type GuardedRemote } from '../comm/comlink-port.js';
import { setInprocDialer } from '../comm/inproc.js';
import { childLogger } from '../logging.js';
import type { RegisteredClient, TaskHost, WorkerInfo } from '../task-context.js';
import { WorkerClient } from './worker-client.js';

/** The key of the message carrying a thread's link port, and of its worker info in piscina's workerData. */
export const THREAD_LINK = 'distributed-ts:thread-link';

/** What the worker's main thread serves to each thread. */
export interface ThreadHostApi {
  secede(key: string): void;
  rejoin(key: string): Promise<void>;
  /** Connects `port` to the main thread's inproc listener at `address`; throws ConnectError if there is none. */
  dial(address: string, port: MessagePort, localAddress: string): void;
}

/** piscina's workerData for a worker's threads. */
export type ThreadWorkerData = { [THREAD_LINK]: WorkerInfo };

export function isThreadLinkMessage(message: unknown): message is { [THREAD_LINK]: MessagePort } {
  return typeof message === 'object' && message !== null && THREAD_LINK in message;
}

export function workerInfoOf(data: unknown): WorkerInfo | undefined {
  if (typeof data !== 'object' || data === null || !(THREAD_LINK in data)) return undefined;
  return (data as ThreadWorkerData)[THREAD_LINK];
}

const log = childLogger('thread-link');

type PostToParent = (message: unknown, transferList: MessagePort[]) => void;

const postToParent: PostToParent = (message, transferList) => {
  if (parentPort === null) throw new Error('not in a worker thread: there is no parent to link to');
  parentPort.postMessage(message, transferList);
};

/** The TaskHost of a thread: forwards to the worker's main thread. */
export class ThreadTaskHost implements TaskHost {
  private remote: GuardedRemote<ThreadHostApi> | undefined;
  private readonly workerClient: WorkerClient;

  constructor(
    readonly info: WorkerInfo,
    private readonly post: PostToParent = postToParent,
  ) {
    this.workerClient = new WorkerClient(info.schedulerAddress, `${info.name}-client`, info.address);
    // This thread has no inproc listeners of its own: reach the main thread's through the link.
    setInprocDialer(async (address, port, localAddress) => {
      await this.link().dial(address, transfer(port, [port]), localAddress);
    });
  }

  private link(): GuardedRemote<ThreadHostApi> {
    if (this.remote === undefined) {
      const { port1, port2 } = new MessageChannel();
      this.post({ [THREAD_LINK]: port2 }, [port2]);
      this.remote = guardedRemote<ThreadHostApi>(port1, { peer: `worker ${this.info.address}` });
      port1.unref();
    }
    return this.remote;
  }

  secede(key: string): void {
    this.link().secede(key).catch((error: unknown) => log.warn({ err: error, key }, 'secede did not reach the worker'));
  }

  rejoin(key: string): Promise<void> {
    return this.link().rejoin(key);
  }

  client(): RegisteredClient {
    return this.workerClient.client();
  }
}
