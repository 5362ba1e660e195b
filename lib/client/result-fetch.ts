/**
 * Getting a client's results home: values that came inline with
 * `key-in-memory` are decoded on the spot; the others are fetched in batches
 * (every `result()` of one tick shares one `gather` RPC), large ones straight
 * from the workers that hold them when this client reaches them over TCP.
 * A fetch is interrupted at once when one of its keys errs, is cancelled, or
 * the client closes.
 */
import { LostDataError } from '../errors.js';
import type { GatherReply, HeldBlob, OpDict } from '../protocol/messages.js';
import { decodeValue, decodeWithViews } from '../protocol/values.js';
import { isDirectlyReachable } from '../protocol/direct-transfer.js';
import { blockingWait } from '../task-context.js';
import type { DirectData } from './direct-data.js';
import type { FutureState } from './future-state.js';
import { whenAllDone } from './settle-all.js';

/** What a fetch got: from the scheduler's reply, straight from workers over TCP, and keys nobody has. */
interface FetchedData {
  relayed: Record<string, HeldBlob>;
  fromWorkers: Record<string, HeldBlob>;
  missing: string[];
}

interface FetchBatch {
  states: FutureState[];
  done: Promise<void> | undefined;
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

/** What a ResultFetch needs of its session. */
export interface ResultFetchHost {
  /** An RPC to the scheduler (waits out a reconnection). */
  call<T>(msg: OpDict): Promise<T>;
  /** Connections to workers for fetching large values directly. */
  readonly direct: DirectData;
  /** A value was set on `state` (fetched actor proxies count as references). */
  fetched(state: FutureState): void;
}

export class ResultFetch {
  private readonly watches = new Set<FetchWatch>();
  /** The fetch the current tick's result() calls join. */
  private batch: FetchBatch | undefined;
  /**
   * Values relayed by the scheduler: a large binary on its own is handed over
   * as a view of the received bytes — over TCP memory of this process's own;
   * in-process the very bytes the worker stores (never copied: a value
   * scattered in this process comes back as a view of the scattered bytes
   * themselves; the caller must not write into them, see the README).
   */
  private readonly decodeRelayed: (blob: HeldBlob) => unknown = decodeWithViews;

  constructor(private readonly host: ResultFetchHost) {}

  async results(states: readonly FutureState[]): Promise<unknown[]> {
    // Until every value is here at once: a value held when we looked may be dropped while we wait
    // for the others (its worker died: `lost-data`), and then it is recomputed and waited for again.
    for (;;) {
      let missing: FutureState[] | undefined;
      for (const state of states) {
        throwIfUnusable(state);
        if (!state.hasValue && !this.decodeInline(state)) (missing ??= []).push(state);
      }
      if (missing === undefined) return states.map((state) => state.value);
      // Small values arrive with key-in-memory: wait for that news before asking for them.
      const pending = missing.filter((state) => !state.done);
      if (pending.length > 0) await blockingWait(whenAllDone(pending));
      const left = missing.filter((state) => {
        throwIfUnusable(state);
        return !state.hasValue && !this.decodeInline(state);
      });
      if (left.length > 0) await blockingWait(this.fetchBatched(left));
    }
  }

  /** Interrupts the running fetches that wait for `key`. */
  interrupt(key: string, error: () => Error): void {
    for (const watch of this.watches) if (watch.keys.has(key)) watch.interrupt(error());
  }

  /** Interrupts every running fetch (the client closed). */
  interruptAll(error: Error): void {
    for (const watch of this.watches) watch.interrupt(error);
  }

  /** Decodes a value that came inline with key-in-memory; false when there is none. */
  private decodeInline(state: FutureState): boolean {
    const blob = state.blob;
    if (blob === undefined) return false;
    state.setValue(decodeValue(blob));
    this.host.fetched(state);
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
      const fresh: FetchBatch = { states: [], done: undefined };
      fresh.done = Promise.resolve().then(() => {
        if (this.batch === fresh) this.batch = undefined;
        return this.fetch(fresh.states);
      });
      this.batch = batch = fresh;
    }
    for (const state of states) batch.states.push(state);
    const joined = batch;
    return joined.done!.catch((error: unknown) => {
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
        this.host.fetched(state);
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
    const reply = await this.host.call<GatherReply>({ op: 'gather', keys, direct: true });
    const fetched: FetchedData = { relayed: reply.data, fromWorkers: {}, missing: reply.missing ?? [] };
    if (reply.direct === undefined) return fetched;
    const overTcp: Record<string, string[]> = {};
    const viaScheduler: string[] = [];
    for (const [key, holders] of Object.entries(reply.direct)) {
      const reachable = holders.filter(isDirectlyReachable);
      if (reachable.length > 0) overTcp[key] = reachable;
      else viaScheduler.push(key);
    }
    const direct = await this.host.direct.fetch(overTcp);
    fetched.fromWorkers = direct.data;
    viaScheduler.push(...direct.failed);
    if (viaScheduler.length > 0) {
      const relayed = await this.host.call<GatherReply>({ op: 'gather', keys: viaScheduler });
      Object.assign(fetched.relayed, relayed.data);
      fetched.missing.push(...(relayed.missing ?? []));
    }
    return fetched;
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
