/**
 * Who waits for which key to settle (in memory, erred or forgotten): a
 * gather of a pending key, the recovery extension watching fire-and-forget
 * work. The shell tells it what each stimulus settled.
 */
import type { SchedulerState, SettledKey } from '../../lib/scheduler/state.js';

export class SettledKeys {
  private readonly waiters = new Map<string, Array<(entry: SettledKey) => void>>();

  constructor(private readonly state: SchedulerState) {}

  /** Resolves once `key` settles; at once as forgotten when the state does not know it. */
  when(key: string): Promise<SettledKey> {
    if (!this.state.watch(key)) return Promise.resolve({ key, state: 'forgotten' });
    return new Promise((resolve) => {
      let list = this.waiters.get(key);
      if (list === undefined) this.waiters.set(key, (list = []));
      list.push(resolve);
    });
  }

  settled(entries: readonly SettledKey[]): void {
    for (const entry of entries) {
      const list = this.waiters.get(entry.key);
      if (list === undefined) continue;
      this.waiters.delete(entry.key);
      for (const resolve of list) resolve(entry);
    }
  }

  /** The scheduler closes: every waiter hears its key was forgotten. */
  close(): void {
    for (const [key, list] of this.waiters) for (const resolve of list) resolve({ key, state: 'forgotten' });
    this.waiters.clear();
  }
}
