/**
 * The bookkeeping of a bounded log kept as parallel arrays (the stimulus and
 * transition logs): which slot the next entry takes, overwriting the oldest
 * once full, how many entries are kept and how many were ever recorded.
 */
export class RingSlots {
  private next = 0;
  /** Entries kept (at most `capacity`). */
  count = 0;
  /** Entries recorded since the log was made (not only those still kept). */
  total = 0;

  constructor(readonly capacity: number, what: string) {
    if (!(capacity >= 1)) throw new RangeError(`${what} capacity must be >= 1, got ${capacity}`);
  }

  /** The slot for a new entry. */
  claim(): number {
    const i = this.next;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.count < this.capacity) this.count += 1;
    this.total += 1;
    return i;
  }

  /** The slot of the n-th kept entry, oldest first (0 <= n < count). */
  slot(n: number): number {
    const first = this.count < this.capacity ? 0 : this.next;
    return (first + n) % this.capacity;
  }
}
