/**
 * The piscina thread entry (it stands with the actors: it installs the client
 * side, which lib/worker may not import). Piscina loads it when the thread starts; it then
 * opens the thread's batch port (lib/worker/batch-port.ts), over which the
 * pool sends nearly every batch. The default export runs a batch handed over
 * by `piscina.run` (batches sent before the port reached the pool): it sends
 * the outcomes back with their result buffers transferred, not copied.
 */
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';
import { MessageChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import { executeTasks, type TaskOutcome, type TaskToRun } from '../lib/worker/execute.js';
import { BATCH_PORT, serveBatches, transferListOf, type BatchPortMessage } from '../lib/worker/batch-port.js';
import { ThreadTaskHost, workerInfoOf } from '../lib/worker/thread-link.js';
import { adoptThreadSecurity } from '../lib/comm/thread-security.js';
import { installClientPort } from '../lib/client/client-port.js';
import { installClientAdapter } from '../lib/coordination/client-adapter.js';
import { prepareThread, threadPreloadsOf } from '../lib/worker/thread-preload.js';
import { childLogger } from '../lib/logging.js';

// As the package root does: tasks here get the worker's client (getClient()),
// actor handles among their arguments become proxies, primitives find the client.
installClientPort();
installClientAdapter();

/** How tasks here reach their worker (absent when the pool was started without worker info). */
const info = workerInfoOf(workerData);
adoptThreadSecurity(workerData);
const host = info === undefined ? undefined : new ThreadTaskHost(info);

// --preload modules prepare this thread before it takes any work.
for (const failure of await prepareThread(threadPreloadsOf(workerData))) childLogger('worker-thread').error({ err: failure }, failure.message);

if (parentPort !== null && typeof workerData === 'object' && workerData !== null && BATCH_PORT in workerData) {
  const { port1, port2 } = new MessageChannel();
  serveBatches(port1, host);
  parentPort.postMessage({ [BATCH_PORT]: port2, threadId } satisfies BatchPortMessage, [port2]);
}

export default async function runBatch(batch: TaskToRun[]): Promise<unknown> {
  const outcomes: TaskOutcome[] = await executeTasks(batch, host);
  const buffers = transferListOf(outcomes);
  if (buffers.length === 0) return outcomes;
  // The module's own symbols (not the static getters, typed as plain `symbol`) make this a typed Transferable.
  return Piscina.move({ [transferableSymbol]: buffers, [valueSymbol]: outcomes });
}
