/**
 * The piscina thread entry: runs a batch and sends the outcomes back with
 * their result buffers transferred, not copied. A result Blob that does not
 * own its whole ArrayBuffer is copied first (transferring a shared slab would
 * detach bytes that belong to someone else); SharedArrayBuffer-backed Blobs
 * need no transfer at all.
 */
import { Piscina } from 'piscina';
import { workerData } from 'node:worker_threads';
import { executeTasks, type TaskOutcome, type TaskToRun } from './execute.js';
import { ThreadTaskHost, workerInfoOf } from './thread-link.js';
// Actor handles among task arguments become Actor proxies here too.
import '../client/actor.js';

type Movable = Parameters<typeof Piscina.move>[0];

/** How tasks here reach their worker (absent when the pool was started without worker info). */
const info = workerInfoOf(workerData);
const host = info === undefined ? undefined : new ThreadTaskHost(info);

export default async function runBatch(batch: TaskToRun[]): Promise<unknown> {
  const outcomes: TaskOutcome[] = await executeTasks(batch, host);
  const buffers: ArrayBuffer[] = [];
  for (const outcome of outcomes) {
    if (!outcome.ok) continue;
    let value = outcome.value;
    if (value.buffer instanceof SharedArrayBuffer) continue;
    if (value.byteOffset !== 0 || value.byteLength !== value.buffer.byteLength || buffers.includes(value.buffer)) {
      value = outcome.value = value.slice();
    }
    buffers.push(value.buffer as ArrayBuffer);
  }
  if (buffers.length === 0) return outcomes;
  const transferable = { [Piscina.transferableSymbol]: buffers, [Piscina.valueSymbol]: outcomes };
  return Piscina.move(transferable as unknown as Movable);
}
