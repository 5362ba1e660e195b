/**
 * The ClusterPool's waiting runs: first in, first out, and a run can leave
 * from the middle (an abort) in O(1). A Set would do the latter, but taking
 * its first entry after many deletions walks over their holes, which showed
 * as the pool's largest cost in a profile of 20,000 runs.
 */
export interface Queueable {
  /** True while the entry is in a queue; leaving clears it. */
  queued: boolean;
}

export class RunQueue<T extends Queueable> {
  #items: (T | undefined)[] = [];
  #head = 0;
  #size = 0;

  /** Entries still waiting. */
  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    item.queued = true;
    this.#items.push(item);
    this.#size++;
  }

  /** The oldest waiting entry, removed; undefined when empty. */
  shift(): T | undefined {
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (item !== undefined && item.queued) {
        item.queued = false;
        this.#size--;
        this.#compact();
        return item;
      }
    }
    this.#compact();
    return undefined;
  }

  /** Takes `item` out wherever it is; false if it was not waiting. */
  remove(item: T): boolean {
    if (!item.queued) return false;
    item.queued = false;
    this.#size--;
    if (this.#size === 0) this.#reset();
    return true;
  }

  /** Every waiting entry, removed, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item);
    return out;
  }

  #compact(): void {
    if (this.#size === 0) this.#reset();
    else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #reset(): void {
    this.#items = [];
    this.#head = 0;
  }
}
