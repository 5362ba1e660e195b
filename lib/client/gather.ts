/**
 * Gathering values of Futures in a shape (see gather-shapes.ts). One fetch
 * (one `gather` RPC) per client the Futures belong to.
 */
import { ownerOf, stateOf, type Future, type FutureOwner } from './future.js';
import type { FutureState } from './future-state.js';
import { collectFutures, rebuildShape, skipEntry } from './gather-shapes.js';
import { unsliced, whenBuilt } from './sliced-array.js';
import { ReadAhead } from './read-ahead.js';

export type GatherErrors = 'raise' | 'skip';

export interface GatherOptions {
  /** 'raise' (default): reject with the first failure; 'skip': leave failed entries out. */
  errors?: GatherErrors;
}

function groupByOwner(futures: readonly Future<unknown>[]): Map<FutureOwner, FutureState[]> {
  const groups = new Map<FutureOwner, FutureState[]>();
  const seen = new Set<FutureState>();
  for (const future of futures) {
    const state = stateOf(future);
    if (seen.has(state)) continue;
    seen.add(state);
    const owner = ownerOf(future);
    let group = groups.get(owner);
    if (group === undefined) groups.set(owner, (group = []));
    group.push(state);
  }
  return groups;
}

/** Fetches the values of `futures` into their records; rejects with the first failure. */
export async function fetchAll(futures: readonly Future<unknown>[]): Promise<void> {
  const groups = groupByOwner(futures);
  await Promise.all([...groups].map(([owner, states]) => owner.results(states)));
}

/** Waits until every one of `futures` is done (or its client closed). */
export async function settleAll(futures: readonly Future<unknown>[]): Promise<void> {
  const groups = groupByOwner(futures);
  const waits: Promise<void>[] = [];
  for (const [owner, states] of groups) for (const state of states) if (!state.done) waits.push(owner.settled(state));
  await Promise.all(waits);
}

export async function gatherShape(shape: unknown, errors: GatherErrors): Promise<unknown> {
  // A long map still being submitted in slices: wait for the slices rather than force them.
  await whenBuilt(shape);
  shape = unsliced(shape);
  const futures = collectFutures(shape);
  if (futures.length === 0) return rebuildShape(shape, () => undefined);
  if (errors === 'raise') {
    await fetchAll(futures);
    return rebuildShape(shape, (future) => stateOf(future).value);
  }
  // skip: wait for everything to finish one way or another, then fetch the successes.
  for (;;) {
    await settleAll(futures);
    const finished = futures.filter((future) => stateOf(future).status === 'finished');
    try {
      await fetchAll(finished);
      break;
    } catch (error) {
      // Something failed between settling and fetching (cancelled, lost...): look again.
      if (finished.every((future) => stateOf(future).status === 'finished')) throw error;
    }
  }
  return rebuildShape(shape, (future) => {
    const state = stateOf(future);
    return state.status === 'finished' && state.hasValue ? state.value : skipEntry;
  });
}

/**
 * `gather` over an async iterable: yields each item with its Futures replaced
 * by values, in order. Items are read (and their values fetched) ahead of the
 * consumer, up to READ_AHEAD_HIGH_WATER, so fetches overlap.
 */
export async function* gatherStream(items: AsyncIterable<unknown>, errors: GatherErrors): AsyncGenerator<unknown> {
  const ahead = new ReadAhead(items[Symbol.asyncIterator](), (item: unknown) => {
    const value = gatherShape(item, errors);
    // Awaited in order below; a failure further ahead must not count as unhandled meanwhile.
    value.catch(() => undefined);
    return value;
  });
  try {
    for (;;) {
      const step = await ahead.next();
      if (step.done === true) return;
      const value = await step.value;
      if (value !== skipEntry) yield value;
    }
  } finally {
    await ahead.return();
  }
}
