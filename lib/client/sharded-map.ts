/**
 * A Map of string keys split over SHARDS smaller Maps. A Map grows by
 * rehashing every entry at once: at a million entries that is one block of
 * 50-150 ms on the event loop (a client holding a million futures grows its
 * records and recipes past 2^20). Split 32 ways, each growth moves 1/32 of
 * the entries. The shard is picked from the key's last two characters (keys
 * end in a hash or a counter), so picking costs two charCodeAt. Iteration
 * goes shard by shard, not in insertion order.
 */
export const SHARDS = 32;

/** Which shard a key lives in (0 to SHARDS - 1). */
export function shardOf(key: string): number {
  const n = key.length;
  if (n === 0) return 0;
  return (key.charCodeAt(n - 1) * 31 + (n > 1 ? key.charCodeAt(n - 2) : 0)) & (SHARDS - 1);
}

export class ShardedMap<V> implements Iterable<[string, V]> {
  private readonly shards: Map<string, V>[] = Array.from({ length: SHARDS }, () => new Map<string, V>());
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]!.has(key);
  }

  set(key: string, value: V): this {
    const shard = this.shards[shardOf(key)]!;
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: string): boolean {
    if (!this.shards[shardOf(key)]!.delete(key)) return false;
    this.count--;
    return true;
  }

  clear(): void {
    for (const shard of this.shards) shard.clear();
    this.count = 0;
  }

  *keys(): IterableIterator<string> {
    for (const shard of this.shards) yield* shard.keys();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) yield* shard.values();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const shard of this.shards) yield* shard.entries();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}
