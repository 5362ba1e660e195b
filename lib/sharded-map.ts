/**
 * A Map of string keys (and a Set of keyed records) split over SHARDS smaller
 * ones. A Map or Set grows by rehashing every entry at once: at a million
 * entries that is one block of 100-220 ms on the event loop (95 ms at half a
 * million). A client holding a million futures, and in-process the scheduler
 * and the worker running them, each keep several collections that size. Split
 * 64 ways, each growth moves 1/64 of the entries (a shard of 32k entries took
 * 8-11 ms to grow on a loaded machine, one of 16k half that).
 *
 * Equal shards would all fill up, and rehash, at about the same insert — and
 * the client's, the scheduler's and the worker's collections hold the same
 * keys, so theirs too: one turn of the in-process million spent 30-40 ms
 * rehashing. So shards get unequal shares of the keys, shard i about
 * 2^((i + jitter_i) / SHARDS) parts: between any n and 2n entries each shard
 * doubles once, and the 64 growths fall spread over that stretch (about 1%
 * of the inserts apart). A geometric ladder alone would put every collection
 * on the same grid of inserts, so each collection takes the next of LAYOUTS,
 * whose jitters (under half a step) differ: collections holding the same keys
 * grow at different inserts too. A key's bucket (of BUCKETS, fine enough for
 * steps under 1% in the shares) comes from its last six characters (keys end in a
 * hash or a counter), mixed; a layout maps buckets to shards. Iteration goes
 * shard by shard, not in insertion order.
 *
 * Both extend the built-in class (and never use its own storage), so they go
 * wherever a Map or Set is expected, `instanceof` included.
 */
export const SHARDS = 64;
const BUCKET_BITS = 14;
export const BUCKETS = 1 << BUCKET_BITS;
/** Distinct layouts: collections made one after another take them in turn. */
const PHASES = 8;

/** Which of BUCKETS a key falls in (0 to BUCKETS - 1): its last six characters, mixed. */
export function bucketOf(key: string): number {
  const n = key.length;
  let h = n;
  for (let i = n > 6 ? n - 6 : 0; i < n; i++) h = h * 31 + key.charCodeAt(i);
  return Math.imul(h, 0x9e3779b1) >>> (32 - BUCKET_BITS);
}

/**
 * Bucket -> shard, shard i taking a share of the buckets proportional to
 * 2^((i + jitter_i) / SHARDS), the jitters drawn in [-0.45, 0.45] from `seed`
 * (seed 0: none).
 */
export function shardLayout(seed: number): Uint8Array {
  let state = seed >>> 0;
  // mulberry32: a few lines of a well-known small PRNG, deterministic per seed.
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = Math.imul(state ^ (state >>> 15), state | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
  const jitter = (): number => (seed === 0 ? 0 : (random() - 0.5) * 0.9);
  const weights = Array.from({ length: SHARDS }, (_, i) => 2 ** ((i + jitter()) / SHARDS));
  const total = weights.reduce((a, b) => a + b, 0);
  // Bucket counts by largest remainder, so they sum to BUCKETS exactly.
  const exact = weights.map((w) => (w / total) * BUCKETS);
  const counts = exact.map(Math.floor);
  let left = BUCKETS - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k++, left--) counts[byRemainder[k]![1]]! += 1;
  // Deal buckets round-robin over the shards that still have some to take.
  const layout = new Uint8Array(BUCKETS);
  let b = 0;
  while (b < BUCKETS) {
    for (let i = 0; i < SHARDS && b < BUCKETS; i++) {
      if (counts[i]! > 0) {
        counts[i]! -= 1;
        layout[b++] = i;
      }
    }
  }
  return layout;
}

const LAYOUTS: readonly Uint8Array[] = Array.from({ length: PHASES }, (_, k) => shardLayout(k));
let nextLayout = 0;

function takeLayout(): Uint8Array {
  const layout = LAYOUTS[nextLayout]!;
  nextLayout = (nextLayout + 1) % PHASES;
  return layout;
}

/** Which shard a key lives in (0 to SHARDS - 1) under `layout` (default: the first, unjittered one). */
export function shardOf(key: string, layout: Uint8Array = LAYOUTS[0]!): number {
  return layout[bucketOf(key)]!;
}

export class ShardedMap<V> extends Map<string, V> {
  private readonly shards: Map<string, V>[] = Array.from({ length: SHARDS }, () => new Map<string, V>());
  private readonly layout = takeLayout();
  private count = 0;

  override get size(): number {
    return this.count;
  }

  /** Entries per shard (for tests and diagnostics). */
  shardSizes(): number[] {
    return this.shards.map((shard) => shard.size);
  }

  override get(key: string): V | undefined {
    return this.shards[this.layout[bucketOf(key)]!]!.get(key);
  }

  override has(key: string): boolean {
    return this.shards[this.layout[bucketOf(key)]!]!.has(key);
  }

  override set(key: string, value: V): this {
    const shard = this.shards[this.layout[bucketOf(key)]!]!;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  override delete(key: string): boolean {
    if (!this.shards[this.layout[bucketOf(key)]!]!.delete(key)) return false;
    this.count--;
    return true;
  }

  override clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  override forEach(callback: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    for (const shard of this.shards) for (const [key, value] of shard) callback.call(thisArg, value, key, this);
  }

  override *keys(): MapIterator<string> {
    for (const shard of this.shards) yield* shard.keys();
  }

  override *values(): MapIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  override *entries(): MapIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  override [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
}

/** A Set of records with a string `key`, sharded by that key (see ShardedMap). */
export class ShardedSet<T extends { readonly key: string }> extends Set<T> {
  private readonly shards: Set<T>[] = Array.from({ length: SHARDS }, () => new Set<T>());
  private readonly layout = takeLayout();
  private count = 0;

  override get size(): number {
    return this.count;
  }

  /** Records per shard (for tests and diagnostics). */
  shardSizes(): number[] {
    return this.shards.map((shard) => shard.size);
  }

  override has(item: T): boolean {
    return this.shards[this.layout[bucketOf(item.key)]!]!.has(item);
  }

  override add(item: T): this {
    const shard = this.shards[this.layout[bucketOf(item.key)]!]!;
    const before = shard.size;
    shard.add(item);
    this.count += shard.size - before;
    return this;
  }

  override delete(item: T): boolean {
    if (!this.shards[this.layout[bucketOf(item.key)]!]!.delete(item)) return false;
    this.count--;
    return true;
  }

  override clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  override forEach(callback: (value: T, value2: T, set: Set<T>) => void, thisArg?: unknown): void {
    for (const shard of this.shards) for (const item of shard) callback.call(thisArg, item, item, this);
  }

  override *values(): SetIterator<T> {
    for (const shard of this.shards) yield* shard.values();
  }

  override keys(): SetIterator<T> {
    return this.values();
  }

  override *entries(): SetIterator<[T, T]> {
    for (const shard of this.shards) for (const item of shard) yield [item, item];
  }

  override [Symbol.iterator](): SetIterator<T> {
    return this.values();
  }
}
