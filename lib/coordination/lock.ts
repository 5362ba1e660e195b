/**
 * Cluster-wide lock: a Semaphore with one lease. The lease belongs to this
 * object (another Lock object with the same name cannot release it) and is
 * taken back if its client goes away.
 */
import { type PrimitiveOptions, randomName } from './primitive-handle.js';
import { Semaphore } from './semaphore.js';

/**
 * A cluster-wide lock, held by at most one client or task at a time across
 * every process that uses the same name.
 *
 * @example
 * ```ts
 * const lock = new Lock('resource');
 * if (await lock.acquire({ timeout: '5s' })) {
 *   try { doWork(); } finally { await lock.release(); }
 * }
 * ```
 */
export class Lock extends Semaphore {
  constructor(name?: string, options: PrimitiveOptions = {}) {
    super({ ...options, maxLeases: 1, name: name ?? randomName('lock') });
  }

  /** Whether anyone holds the lock. */
  async locked(): Promise<boolean> {
    return (await this.getValue()) > 0;
  }

  protected override notHeldMessage(): string {
    return `Lock is not held: lock ${JSON.stringify(this.name)} was not acquired by this object`;
  }
}
