/**
 * Future keys a Queue or Variable keeps alive. The scheduler's who-wants sets
 * have no counts, so a primitive counts copies itself and reports only the
 * edges: a key it starts holding (0 -> 1) and one it stops holding (1 -> 0).
 */

export interface KeyChanges {
  /** Keys the primitive's pseudo-client now wants. */
  hold: string[];
  /** Keys it no longer wants. */
  release: string[];
}

export function noKeyChanges(): KeyChanges {
  return { hold: [], release: [] };
}

export class KeyCounts {
  private readonly counts = new Map<string, number>();

  add(key: string, changes: KeyChanges): void {
    const count = this.counts.get(key) ?? 0;
    this.counts.set(key, count + 1);
    if (count === 0) changes.hold.push(key);
  }

  remove(key: string, changes: KeyChanges): void {
    const count = this.counts.get(key);
    if (count === undefined) return;
    if (count > 1) {
      this.counts.set(key, count - 1);
      return;
    }
    this.counts.delete(key);
    changes.release.push(key);
  }

  removeAll(changes: KeyChanges): void {
    for (const key of this.counts.keys()) changes.release.push(key);
    this.counts.clear();
  }

  get size(): number {
    return this.counts.size;
  }
}
