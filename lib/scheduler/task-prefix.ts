/**
 * Statistics shared by every task whose key has the same prefix (the key up to
 * its last '-': `inc-<token>` -> `inc`). The scheduler uses them to estimate
 * how long a task will run before it has run.
 */
export class TaskPrefix {
  /** Exponential moving average of reported execution times, ms; -1 until one is known. */
  durationAverage = -1;
  /** Tasks of this prefix that finished. */
  finished = 0;
  /** Unexpected worker deaths while a task of this prefix was processing. */
  suspicious = 0;

  constructor(readonly name: string) {}

  addDuration(ms: number): void {
    if (!(ms >= 0)) return;
    this.durationAverage = this.durationAverage < 0 ? ms : 0.5 * this.durationAverage + 0.5 * ms;
    this.finished += 1;
  }
}

/** `inc-1a2b` -> `inc`; a key without '-' is its own prefix. */
export function prefixName(key: string): string {
  const dash = key.lastIndexOf('-');
  return dash <= 0 ? key : key.slice(0, dash);
}

/** Interns TaskPrefix records; remembers the last one so a batch of one function costs no lookup. */
export class TaskPrefixes {
  private readonly byName = new Map<string, TaskPrefix>();
  private last: TaskPrefix | undefined;

  get(key: string): TaskPrefix {
    const last = this.last;
    if (last !== undefined) {
      const n = last.name.length;
      if (key.length > n && key.charCodeAt(n) === 45 /* '-' */ && key.startsWith(last.name) && key.indexOf('-', n + 1) < 0) {
        return last;
      }
    }
    const name = prefixName(key);
    let prefix = this.byName.get(name);
    if (prefix === undefined) {
      prefix = new TaskPrefix(name);
      this.byName.set(name, prefix);
    }
    this.last = prefix;
    return prefix;
  }

  lookup(name: string): TaskPrefix | undefined {
    return this.byName.get(name);
  }

  values(): IterableIterator<TaskPrefix> {
    return this.byName.values();
  }
}
