/**
 * Keeping an actor alive while its proxy is: a proxy a client fetched counts
 * as one reference to its key (as a Future would), dropped when the garbage
 * collector reclaims the proxy.
 *
 * The client caches fetched values on the key's FutureState, and the states
 * map holds that strongly — so a cached proxy could never be reclaimed while
 * it kept the key. Hence: once only proxy references remain, the cached proxy
 * is dropped from the state (a later `result()` fetches a new one), and the
 * proxies the user still has are what keeps the key.
 */
import { actorRefOf } from '../protocol/actor-ref.js';
import type { FutureState } from './future-state.js';

export class ActorHolds {
  private readonly holds = new WeakMap<FutureState, number>();
  private readonly registry: FinalizationRegistry<FutureState>;

  constructor(
    /** Drops one reference to the state's key (the session's own bookkeeping). */
    private readonly drop: (state: FutureState) => void,
  ) {
    this.registry = new FinalizationRegistry((state) => {
      this.holds.set(state, (this.holds.get(state) ?? 1) - 1);
      this.drop(state);
    });
  }

  /** After a value was fetched into `state`: if it is an actor proxy, it holds a reference. */
  fetched(state: FutureState): void {
    const value = state.value;
    if (typeof value !== 'object' || value === null || actorRefOf(value) === undefined) return;
    state.refs++;
    this.holds.set(state, (this.holds.get(state) ?? 0) + 1);
    this.registry.register(value, state);
  }

  /** After a reference was dropped (and others remain): un-cache the proxy once only proxies hold the key. */
  dropped(state: FutureState): void {
    if (!state.hasValue) return;
    const holds = this.holds.get(state);
    if (holds !== undefined && holds > 0 && state.refs <= holds) {
      state.dropValue();
    }
  }
}
