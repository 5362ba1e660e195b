/**
 * What one stimulus asks the scheduler actor to send. Transitions write into
 * the stimulus's Outbox; the actor delivers `toClients`/`toWorkers` to the
 * matching peers, in order. Consecutive `free-keys` for one worker are
 * coalesced into one message.
 */
import type { FreeKeysMsg, OpDict, SerializedError } from '../protocol/messages.js';
import type { ClientRecord, WorkerRecord } from './records.js';

/** A watched key (see SchedulerState.watch) that reached a final state during the stimulus. */
export interface SettledKey {
  key: string;
  state: 'memory' | 'erred' | 'forgotten';
  /** For `erred`: the original exception (exception blame). */
  exception?: SerializedError;
}

/** Treat as read-only: when a stimulus sends nothing these are shared empty instances. */
export interface SchedulerMessages {
  /** client id -> messages, in order */
  readonly toClients: ReadonlyMap<string, OpDict[]>;
  /** worker address -> messages, in order */
  readonly toWorkers: ReadonlyMap<string, OpDict[]>;
  readonly settled: readonly SettledKey[];
}

const NO_MESSAGES: Map<string, OpDict[]> = new Map();
const NOTHING_SETTLED: SettledKey[] = [];

/** Maps and lists are created on first use: most stimuli send to one or two peers, many to none. */
export class Outbox implements SchedulerMessages {
  private clients: Map<string, OpDict[]> | undefined;
  private workers: Map<string, OpDict[]> | undefined;
  private settledKeys: SettledKey[] | undefined;
  private freeKeys: Map<WorkerRecord, OpDict & { keys: string[] }> | undefined;

  constructor(readonly stimulusId: string) {}

  get toClients(): Map<string, OpDict[]> {
    return this.clients ?? NO_MESSAGES;
  }

  get toWorkers(): Map<string, OpDict[]> {
    return this.workers ?? NO_MESSAGES;
  }

  get settled(): SettledKey[] {
    return this.settledKeys ?? NOTHING_SETTLED;
  }

  settle(entry: SettledKey): void {
    (this.settledKeys ??= []).push(entry);
  }

  /** Pseudo-clients (fire-and-forget, published datasets) have no connection: nothing is queued for them. */
  client(cs: ClientRecord, msg: OpDict): void {
    if (cs.pseudo) return;
    const map = (this.clients ??= new Map());
    const list = map.get(cs.id);
    if (list === undefined) map.set(cs.id, [msg]);
    else list.push(msg);
  }

  /** Messages for a worker that has been removed are dropped: its comm is gone. */
  worker(ws: WorkerRecord, msg: OpDict): void {
    if (ws.status === 'closed') return;
    const map = (this.workers ??= new Map());
    const list = map.get(ws.address);
    if (list === undefined) map.set(ws.address, [msg]);
    else list.push(msg);
  }

  /** Coalesced into the worker's last message when that is a free-keys, so order with other messages holds. */
  freeKey(ws: WorkerRecord, key: string): void {
    if (ws.status === 'closed') return;
    const list = this.workers?.get(ws.address);
    const last = list?.[list.length - 1];
    const pending = this.freeKeys?.get(ws);
    if (pending !== undefined && last === pending) {
      pending.keys.push(key);
      return;
    }
    const msg: OpDict & { keys: string[] } = { op: 'free-keys', keys: [key], stimulusId: this.stimulusId } satisfies FreeKeysMsg;
    (this.freeKeys ??= new Map()).set(ws, msg);
    this.worker(ws, msg);
  }

  get empty(): boolean {
    return this.clients === undefined && this.workers === undefined && this.settledKeys === undefined;
  }
}
