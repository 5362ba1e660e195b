/**
 * Sets that exist only once something is in them. Most worker task records never get a
 * dependency, dependent or peer holder, and an empty Set costs ~165 bytes each.
 */

/** Read stand-in for a set not created yet: `for (const x of set ?? noItems)`. */
export const noItems: ReadonlySet<never> = new Set<never>();

/** `set` with `item` added, created on first use: `ts.whoHas = addTo(ts.whoHas, holder)`. */
export function addTo<T>(set: Set<T> | undefined, item: T): Set<T> {
  if (set === undefined) return new Set<T>().add(item);
  set.add(item);
  return set;
}

/** True when `set` exists and holds something. */
export function hasAny<S extends ReadonlySet<unknown>>(set: S | undefined): set is S {
  return set !== undefined && set.size > 0;
}
