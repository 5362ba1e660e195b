/**
 * Keys of scattered data the scheduler forgot because the only worker holding
 * them went away. A graph that later names one as a dependency is told so
 * (LostDataError naming the key) rather than getting "unknown dependencies".
 * Bounded: the oldest are dropped first.
 */
const DEFAULT_CAPACITY = 10_000;

export class LostKeys {
  private readonly keys = new Set<string>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value as string);
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  clear(): void {
    this.keys.clear();
  }
}
