/**
 * A Map of string keys (and a Set of keyed records) split over SHARDS smaller
 * ones. A Map or Set grows by rehashing every entry at once: at a million
 * entries that is one block of 100-220 ms on the event loop (95 ms at half a
 * million). A client holding a million futures, and in-process the scheduler
 * and the worker running them, each keep several collections that size. Split
 * 32 ways, each growth moves 1/32 of the entries. The shard is picked from the
 * key's last two characters (keys end in a hash or a counter), so picking
 * costs two charCodeAt. Iteration goes shard by shard, not in insertion order.
 *
 * Both extend the built-in class (and never use its own storage), so they go
 * wherever a Map or Set is expected, `instanceof` included.
 */
export const SHARDS = 32;

/** Which shard a key lives in (0 to SHARDS - 1). */
export function shardOf(key: string): number {
  const n = key.length;
  if (n === 0) return 0;
  return (key.charCodeAt(n - 1) * 31 + (n > 1 ? key.charCodeAt(n - 2) : 0)) & (SHARDS - 1);
}

export class ShardedMap<V> extends Map<string, V> {
  private readonly shards: Map<string, V>[] = Array.from({ length: SHARDS }, () => new Map<string, V>());
  private count = 0;

  override get size(): number {
    return this.count;
  }

  override get(key: string): V | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }

  override has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key);
  }

  override set(key: string, value: V): this {
    const shard = this.shards[shardOf(key)]!;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  override delete(key: string): boolean {
    if (!this.shards[shardOf(key)]!.delete(key)) return false;
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
  private count = 0;

  override get size(): number {
    return this.count;
  }

  override has(item: T): boolean {
    return this.shards[shardOf(item.key)]!.has(item);
  }

  override add(item: T): this {
    const shard = this.shards[shardOf(item.key)]!;
    const before = shard.size;
    shard.add(item);
    this.count += shard.size - before;
    return this;
  }

  override delete(item: T): boolean {
    if (!this.shards[shardOf(item.key)]!.delete(item)) return false;
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
