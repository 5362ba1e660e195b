/**
 * The client's outgoing stream to the scheduler, coalesced per tick: every
 * submit, map, release and desire made in the same synchronous run is merged
 * into as few messages as order allows (consecutive update-graphs become one,
 * consecutive key messages of the same op and client become one) and sent from
 * one microtask. Order between different kinds is kept: a release queued after
 * a submit reaches the scheduler after it.
 *
 * A client handed out before its connection is up (a task's `getClient()`)
 * starts held: messages queue, in order, until `open()`.
 */
import type { GraphTask, OpDict } from '../protocol/messages.js';

interface QueuedGraph {
  op: 'update-graph';
  client: string;
  tasks: GraphTask[];
  keys: string[];
}

interface QueuedKeys {
  op: 'client-desires-keys' | 'client-releases-keys';
  client: string;
  keys: string[];
}

type Queued = QueuedGraph | QueuedKeys | OpDict;

export class ClientOutbox {
  private queue: Queued[] = [];
  private scheduled = false;
  private held: boolean;
  private readonly ready: () => boolean;

  /**
   * `held`: a session still connecting queues everything until `open()`.
   * `ready`: false while there is no connection to deliver on (reconnecting): messages wait in the queue.
   */
  constructor(
    private readonly deliver: (msg: OpDict) => void,
    options: { held?: boolean; ready?: () => boolean } = {},
  ) {
    this.held = options.held === true;
    this.ready = options.ready ?? (() => true);
  }

  /** The connection is up: sends what queued while held, and from now on per tick. */
  open(): void {
    this.held = false;
    this.flush();
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Tasks to add and keys the client wants (holds Futures for). */
  updateGraph(client: string, tasks: readonly GraphTask[], keys: readonly string[]): void {
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && last.op === 'update-graph' && last.client === client) {
      const graph = last as QueuedGraph;
      for (const task of tasks) graph.tasks.push(task);
      for (const key of keys) graph.keys.push(key);
    } else {
      this.queue.push({ op: 'update-graph', client, tasks: [...tasks], keys: [...keys] });
    }
    this.schedule();
  }

  keys(op: QueuedKeys['op'], client: string, keys: readonly string[]): void {
    if (keys.length === 0) return;
    const last = this.queue[this.queue.length - 1];
    if (last !== undefined && last.op === op && last.client === client) {
      const queued = last as QueuedKeys;
      for (const key of keys) queued.keys.push(key);
    } else {
      this.queue.push({ op, client, keys: [...keys] });
    }
    this.schedule();
  }

  /** Any other stream message, in order with the rest. */
  message(msg: OpDict): void {
    this.queue.push(msg);
    this.schedule();
  }

  /** Sends everything queued now (RPCs call this first so they overtake nothing). */
  flush(): void {
    if (this.held || this.queue.length === 0 || !this.ready()) return;
    const queue = this.queue;
    this.queue = [];
    for (const msg of queue) this.deliver(msg as OpDict);
  }

  /** Forgets what is queued (the connection is gone). */
  discard(): void {
    this.queue = [];
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }
}
