/**
 * Cluster-wide semaphore: at most `maxLeases` holders at a time across every
 * client and task using the same name. Each successful acquire is a lease this
 * object refreshes (every leaseTimeout / 5, on an unref'd timer) while held;
 * leases of a client that is gone, or that stopped refreshing, are taken back
 * by the scheduler.
 */
import { randomUUID } from 'node:crypto';
import { childLogger } from '../logging.js';
import type { SemaphoreAcquireMsg, SemaphoreRefreshLeasesMsg, SemaphoreReleaseMsg } from '../protocol/messages.js';
import { CoordinationError } from './errors.js';
import type { AcquireReply } from './extension.js';
import { PrimitiveHandle, type PrimitiveOptions, type TimeoutOption, timeoutMs } from './primitive-handle.js';

const log = childLogger('semaphore');

/**
 * Options of `new Semaphore(...)`: its name and how many leases it grants at once.
 */
export interface SemaphoreOptions extends PrimitiveOptions {
  /** default 1 */
  maxLeases?: number;
  /** default: a random name (pass the object, or share the name, to coordinate) */
  name?: string;
}

/**
 * A cluster-wide semaphore: at most `maxLeases` holders at a time across every
 * client and task using the same name; leases of a holder that is gone are
 * taken back.
 *
 * @example
 * ```ts
 * const db = new Semaphore({ name: 'database', maxLeases: 4 });
 * await db.acquire();
 * try { await runQuery(); } finally { await db.release(); }
 * ```
 */
export class Semaphore extends PrimitiveHandle {
  readonly maxLeases: number;
  /** Granted lease ids, oldest first. */
  private readonly leases: string[] = [];
  private refreshTimer: NodeJS.Timeout | undefined;
  private refreshEveryMs: number | undefined;

  constructor(options: SemaphoreOptions = {}) {
    super('semaphore', options.name, options);
    const maxLeases = options.maxLeases ?? 1;
    if (!Number.isInteger(maxLeases) || maxLeases < 1) throw new TypeError(`maxLeases must be a positive integer, got ${maxLeases}`);
    this.maxLeases = maxLeases;
  }

  /** Resolves true once a lease is granted, false if `timeout` passed first. */
  async acquire(options: TimeoutOption = {}): Promise<boolean> {
    const leaseId = randomUUID();
    const msg: SemaphoreAcquireMsg = {
      op: 'semaphore_acquire',
      name: this.name,
      maxLeases: this.maxLeases,
      leaseId,
      holder: this.client.id,
    };
    const timeout = timeoutMs(options);
    if (timeout !== undefined) msg.timeout = timeout;
    const reply = await this.call<AcquireReply>(msg);
    if (!reply.acquired) return false;
    this.leases.push(leaseId);
    this.startRefreshing(reply.leaseTimeout);
    return true;
  }

  /**
   * Gives back this object's oldest lease. Resolves false if the scheduler had
   * already taken it back (not refreshed in time). Throws when nothing is held.
   */
  async release(): Promise<boolean> {
    const leaseId = this.leases.shift();
    if (leaseId === undefined) throw new CoordinationError(this.notHeldMessage());
    if (this.leases.length === 0) this.stopRefreshing();
    const msg: SemaphoreReleaseMsg = { op: 'semaphore_release', name: this.name, leaseId };
    const reply = await this.call<{ released: boolean }>(msg);
    return reply.released;
  }

  /** Leases currently held on the scheduler, by anyone. */
  async getValue(): Promise<number> {
    return this.call<number>({ op: 'semaphore_value', name: this.name });
  }

  /** Stops refreshing this object's leases (they expire on the scheduler after the lease timeout). */
  close(): void {
    this.stopRefreshing();
  }

  /** Leases this object holds. */
  get heldLeases(): number {
    return this.leases.length;
  }

  protected notHeldMessage(): string {
    return `Released too often: semaphore ${JSON.stringify(this.name)} holds no lease of this object`;
  }

  private startRefreshing(leaseTimeout: number | null): void {
    if (leaseTimeout === null || this.refreshTimer !== undefined) return;
    this.refreshEveryMs = Math.max(1, leaseTimeout / 5);
    this.refreshTimer = setInterval(() => this.refresh(), this.refreshEveryMs);
    this.refreshTimer.unref();
  }

  private stopRefreshing(): void {
    if (this.refreshTimer !== undefined) clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  private refresh(): void {
    if (this.leases.length === 0) return;
    const msg: SemaphoreRefreshLeasesMsg = {
      op: 'semaphore_refresh_leases',
      name: this.name,
      leaseIds: [...this.leases],
      holder: this.client.id,
    };
    this.call(msg).catch((error: unknown) => {
      log.debug({ semaphore: this.name, err: error }, 'lease refresh failed');
    });
  }
}
