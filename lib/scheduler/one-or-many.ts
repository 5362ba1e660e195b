/**
 * A set that keeps a lone member inline: `undefined` (empty), the member
 * itself, or a Set once there are two or more. Most tasks have exactly one
 * holder and one wanter, and a one-element Set costs ~160 bytes of heap: this
 * representation is what keeps a finished task well under 1 KB.
 *
 * Members are records (objects that are never Sets), so `instanceof Set` tells
 * the two non-empty forms apart.
 */
export type OneOrMany<T extends object> = T | Set<T> | undefined;

export function count<T extends object>(s: OneOrMany<T>): number {
  return s === undefined ? 0 : s instanceof Set ? s.size : 1;
}

export function contains<T extends object>(s: OneOrMany<T>, x: T): boolean {
  return s === x || (s instanceof Set && s.has(x));
}

/** `s` with `x` added. */
export function withMember<T extends object>(s: OneOrMany<T>, x: T): OneOrMany<T> {
  if (s === undefined) return x;
  if (s instanceof Set) {
    s.add(x);
    return s;
  }
  if (s === x) return s;
  const set = new Set<T>();
  set.add(s);
  set.add(x);
  return set;
}

/** `s` without `x` (a Set shrinking to one member goes back inline). */
export function withoutMember<T extends object>(s: OneOrMany<T>, x: T): OneOrMany<T> {
  if (s === x) return undefined;
  if (!(s instanceof Set) || !s.delete(x)) return s;
  if (s.size === 1) return s.values().next().value as T;
  return s;
}

/** A copy of the members, in insertion order. */
export function toArray<T extends object>(s: OneOrMany<T>): T[] {
  return s === undefined ? [] : s instanceof Set ? [...s] : [s];
}
