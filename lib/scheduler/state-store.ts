/**
 * The scheduler's durable state (`dscheduler --state-dir DIR`): coordination
 * primitives and published datasets in an LMDB environment in DIR, so that a
 * scheduler started again on the same directory brings them back.
 *
 * LMDB (the `lmdb` package: prebuilt for this platform, crash-safe
 * copy-on-write B-tree, values encoded with msgpackr) rather than a file
 * format of our own: a SIGKILL at any moment leaves the last committed state,
 * and writes are batched into transactions by the library. Records are keyed
 * `<kind>/<name>`; the module is loaded only when a state dir is given.
 */
import { mkdirSync } from 'node:fs';
import { DistributedError } from '../errors.js';

/** The part of lmdb's RootDatabase used here. */
interface LmdbDatabase {
  put(key: string, value: unknown): Promise<boolean>;
  remove(key: string): Promise<boolean>;
  getRange(options?: { start?: string; end?: string }): Iterable<{ key: unknown; value: unknown }>;
  close(): Promise<void>;
}

const LMDB_MODULE: string = 'lmdb';

export class StateStoreError extends DistributedError {
  override name = 'StateStoreError';
}

export class StateStore {
  private closed = false;

  private constructor(readonly dir: string, private readonly db: LmdbDatabase) {}

  /** Opens (creating if needed) the store in `dir`. */
  static async open(dir: string): Promise<StateStore> {
    try {
      mkdirSync(dir, { recursive: true });
      // Named through a variable: the type checker does not need lmdb (a checkout built before `npm install` still compiles).
      const lmdb = (await import(LMDB_MODULE)) as { open(options: Record<string, unknown>): LmdbDatabase };
      // overlappingSync: a write resolves once committed (in the OS's hands: it survives the process being
      // killed), and the fsync that guards against power loss follows without holding the reply up.
      // noMetaSync: no separate flush of the meta page per commit (it goes with the next one); LMDB stays
      // intact after a system crash, which may undo the last commits — as the deferred fsync allows anyway.
      // A sequential Queue put+get waited on that flush: 2-3x faster without it (benchmarks/survive.ts).
      const db = lmdb.open({ path: dir, compression: false, overlappingSync: true, noMetaSync: true });
      return new StateStore(dir, db);
    } catch (error) {
      throw new StateStoreError(`cannot open the state dir ${dir}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Writes (or with `undefined`, deletes) one record; settles once committed. */
  async write(key: string, value: unknown): Promise<void> {
    if (this.closed) return;
    if (value === undefined) await this.db.remove(key);
    else await this.db.put(key, value);
  }

  /** Every record of one kind (`<kind>/...`), as [name-with-kind, value]. */
  records(kind: string): Array<[string, unknown]> {
    const out: Array<[string, unknown]> = [];
    for (const { key, value } of this.db.getRange({ start: `${kind}/`, end: `${kind}/\uffff` })) out.push([String(key), value]);
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}
