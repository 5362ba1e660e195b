/**
 * Task batches to a pool thread over a MessagePort of our own, one per
 * thread, instead of one piscina `run` per batch: piscina's per-call
 * bookkeeping (an AsyncResource, a task record, a wake-up through its shared
 * counters) cost about as much main-thread time as everything else on a
 * dependency chain's link. Piscina still starts, replaces and stops the
 * threads (lib/worker/pool.ts); each thread opens its port when it loads
 * (actors/worker-thread.ts) and serves batches on it with `serveBatches`.
 *
 * Both ends live here and import nothing thread-specific, so they are tested
 * on the main thread over a plain MessageChannel.
 */
import type { MessagePort } from 'node:worker_threads';
import { CommClosedError } from '../errors.js';
import { deserializeError, serializeError } from '../protocol/errors.js';
import type { SerializedError } from '../protocol/messages.js';
import { executeTasks, type TaskOutcome, type TaskToRun } from './execute.js';
import type { TaskHost } from '../task-context.js';
import { cpusContended, SpinPolicy, spinForMessage } from './spin-wait.js';

/** The key of the message by which a thread hands its batch port to the pool. */
export const BATCH_PORT = 'distributed-ts:batch-port';

export type BatchPortMessage = { [BATCH_PORT]: MessagePort; threadId: number };

export function isBatchPortMessage(message: unknown): message is BatchPortMessage {
  return typeof message === 'object' && message !== null && BATCH_PORT in message;
}

/** Main thread -> thread. */
interface BatchRequest {
  id: number;
  batch: TaskToRun[];
}

/** Thread -> main thread: the outcomes, or why the batch produced none. */
type BatchReply = { id: number; outcomes: TaskOutcome[] } | { id: number; error: SerializedError };

/**
 * Below this size a result is copied by the structured clone rather than
 * transferred: handing over a small ArrayBuffer's memory costs both threads
 * more than copying it (about 20 µs per dependency-chain link, measured).
 */
export const TRANSFER_MIN_BYTES = 32 * 1024;

/**
 * The result buffers to transfer with `outcomes`. Each value first gets a
 * buffer of exactly its own bytes: transferring a shared slab would detach
 * bytes that belong to someone else, and cloning a view clones its whole
 * buffer. SharedArrayBuffer-backed values need neither.
 */
export function transferListOf(outcomes: TaskOutcome[]): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const outcome of outcomes) {
    if (!outcome.ok) continue;
    let value = outcome.value;
    if (value.buffer instanceof SharedArrayBuffer) continue;
    const large = value.byteLength >= TRANSFER_MIN_BYTES;
    if (value.byteOffset !== 0 || value.byteLength !== value.buffer.byteLength || (large && buffers.includes(value.buffer))) {
      value = outcome.value = value.slice();
    }
    if (large) buffers.push(value.buffer as ArrayBuffer);
  }
  return buffers;
}

/**
 * Thread side: runs every batch arriving on `port` (concurrently, as piscina
 * would) and answers on it. When the last batch out is answered, the thread
 * polls for the next one for a moment if `spin` says that pays (spin-wait.ts).
 */
export function serveBatches(port: MessagePort, host?: TaskHost, spin: SpinPolicy = new SpinPolicy({ contended: () => cpusContended() })): void {
  let running = 0;
  let idleSince = -1;
  const accept = (request: BatchRequest): void => {
    if (idleSince >= 0) {
      spin.record(idleSince);
      idleSince = -1;
    }
    running++;
    void runRequest(port, request, host).then(answered, answered);
  };
  const answered = (): void => {
    if (--running > 0) return;
    idleSince = spin.now();
    if (!spin.spinNext()) return;
    const received = spinForMessage(port, spin, idleSince);
    if (received !== undefined) accept(received.message as BatchRequest);
  };
  port.on('message', accept);
}

async function runRequest(port: MessagePort, request: BatchRequest, host: TaskHost | undefined): Promise<void> {
  let reply: BatchReply;
  let transferList: ArrayBuffer[] = [];
  try {
    const outcomes = await executeTasks(request.batch, host);
    transferList = transferListOf(outcomes);
    reply = { id: request.id, outcomes };
  } catch (error) {
    reply = { id: request.id, error: serializeError(error) };
  }
  try {
    port.postMessage(reply, transferList);
  } catch (error) {
    // An outcome that cannot be cloned: fail the batch rather than leave it running forever.
    port.postMessage({ id: request.id, error: serializeError(error) } satisfies BatchReply);
  }
}

/**
 * A small binary that is a view into a much larger buffer (one decoded off the
 * wire points into the pooled 8 KiB slab it was read into) is copied out
 * first: the structured clone copies a view's whole buffer, so posting a
 * 2-byte argument cost an 8 KiB copy (and an 8 KiB allocation on the thread).
 */
export function compactBlob(blob: Uint8Array): Uint8Array {
  const whole = blob.buffer.byteLength;
  if (whole === blob.byteLength || whole < 2 * blob.byteLength + 256 || blob.buffer instanceof SharedArrayBuffer) return blob;
  if (blob.byteLength >= TRANSFER_MIN_BYTES) return blob;
  return blob.slice();
}

/** The batch as it should be posted: small arguments and dependency values in buffers of their own size. */
export function compactBatch(batch: TaskToRun[]): TaskToRun[] {
  let compacted: TaskToRun[] | undefined;
  for (let i = 0; i < batch.length; i++) {
    const task = batch[i]!;
    const args = task.runSpec.args;
    const compactArgs = args instanceof Uint8Array ? compactBlob(args) : args;
    let deps = task.deps;
    for (const key in task.deps) {
      const value = task.deps[key]!;
      // Parts held by reference reach here only when they are in shared memory (worker-state's startBatch).
      const compact = value instanceof Uint8Array ? compactBlob(value) : value;
      if (compact === value) continue;
      if (deps === task.deps) deps = { ...task.deps };
      deps[key] = compact;
    }
    if (compactArgs === args && deps === task.deps) continue;
    compacted ??= batch.slice();
    compacted[i] = { ...task, runSpec: { ...task.runSpec, args: compactArgs }, deps };
  }
  return compacted ?? batch;
}

/** How long batches out on a closed port wait to be failed with their thread's own reason. */
const CLOSE_GRACE_MS = 1000;

interface PendingBatch {
  resolve: (outcomes: TaskOutcome[]) => void;
  reject: (error: Error) => void;
  sentAt: number;
}

/** Main-thread end of one thread's batch port. */
export class BatchPort {
  private nextId = 1;
  private readonly pending = new Map<number, PendingBatch>();
  private failure: Error | undefined;
  private portClosed = false;
  private spinScheduled = false;

  /** `spin` decides whether to poll for an answer before the event loop sleeps (spin-wait.ts). */
  constructor(
    private readonly port: MessagePort,
    readonly threadId: number,
    readonly spin: SpinPolicy = new SpinPolicy({ contended: () => cpusContended() }),
  ) {
    port.on('message', (reply: BatchReply) => this.settle(reply));
    port.once('close', () => this.closed());
    port.unref();
  }

  /** Batches sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** False once the port closed or its thread failed. */
  get usable(): boolean {
    return this.failure === undefined && !this.portClosed;
  }

  run(batch: TaskToRun[]): Promise<TaskOutcome[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.portClosed) return Promise.reject(new CommClosedError(`thread ${this.threadId} closed its batch port`));
    const id = this.nextId++;
    return new Promise<TaskOutcome[]>((resolve, reject) => {
      try {
        this.port.postMessage({ id, batch: compactBatch(batch) } satisfies BatchRequest);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      // Keep the process alive while a batch is out, as piscina does for a running task.
      if (this.pending.size === 0) this.port.ref();
      this.pending.set(id, { resolve, reject, sentAt: this.spin.now() });
      if (!this.spinScheduled && this.spin.spinNext()) {
        this.spinScheduled = true;
        setImmediate(this.spinForAnswer);
      }
    });
  }

  /** After this turn's other work (setImmediate), poll for an answer instead of letting the event loop sleep. */
  private readonly spinForAnswer = (): void => {
    this.spinScheduled = false;
    if (this.pending.size === 0 || this.portClosed) return;
    const received = spinForMessage(this.port, this.spin, this.spin.now());
    if (received !== undefined) this.settle(received.message as BatchReply);
  };

  /** Every batch in flight rejects with `error`, and so does every later one. */
  fail(error: Error): void {
    this.failure ??= error;
    if (this.pending.size === 0) return;
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.port.unref();
    for (const batch of pending) batch.reject(error);
  }

  close(): void {
    this.port.close();
  }

  /**
   * The port closes when its thread ends, often just before the pool hears
   * why (the thread's exit code or error, which then fails the batches out);
   * a batch still out after a grace period fails with the closing itself.
   */
  private closed(): void {
    this.portClosed = true;
    if (this.pending.size === 0) return;
    setTimeout(() => this.fail(new CommClosedError(`thread ${this.threadId} closed its batch port`)), CLOSE_GRACE_MS);
  }

  private settle(reply: BatchReply): void {
    const batch = this.pending.get(reply.id);
    if (batch === undefined) return;
    this.pending.delete(reply.id);
    this.spin.record(batch.sentAt);
    if (this.pending.size === 0) this.port.unref();
    if ('outcomes' in reply) batch.resolve(reply.outcomes);
    else batch.reject(deserializeError(reply.error));
  }
}
