/**
 * Scheduler-side state of every Semaphore (and Lock = Semaphore with one
 * lease), pure: no I/O, no timers, an injectable clock.
 *
 * A granted acquire is a lease, named by the caller (`leaseId`) and owned by a
 * holder (a client id). Leases end by `release`, when their holder is gone
 * (`holderGone`), or when not refreshed for `leaseTimeoutMs`
 * (`expireStaleLeases`). Waiters are served first come, first served.
 * Like dask, a lease refreshed after it expired is taken back, so a
 * semaphore can be briefly oversubscribed; new acquires then wait until it is
 * back under `maxLeases`.
 */
import { CoordinationError } from './errors.js';
import { type Clock, type Decision, type Wake, WaiterQueue, deadlineFrom } from './waiters.js';

export const DEFAULT_LEASE_TIMEOUT_MS = 30_000;
/** How many expired lease ids are remembered, so their late release is not an error. */
const REMEMBERED_EXPIRED_LEASES = 10_000;

export interface SemaphoreStateOptions {
  now?: Clock;
  /** Leases not refreshed for this long expire. Infinity disables expiry. */
  leaseTimeoutMs?: number;
}

export interface AcquireRequest {
  name: string;
  /** Registers the name on first use; must match an existing registration. */
  maxLeases?: number;
  leaseId: string;
  holder: string;
  /** undefined waits forever; 0 tries once. */
  timeoutMs?: number;
}

export interface ExpiredLease {
  name: string;
  leaseId: string;
  holder: string;
}

interface Lease {
  holder: string;
  refreshedAt: number;
}

interface SemaphoreRecord {
  maxLeases: number;
  leases: Map<string, Lease>;
  waiters: WaiterQueue<{ leaseId: string }>;
}

export class SemaphoreState {
  readonly leaseTimeoutMs: number;
  private readonly now: Clock;
  private readonly semaphores = new Map<string, SemaphoreRecord>();
  /** waiter id -> semaphore name */
  private readonly waiterNames = new Map<number, string>();
  /** leases taken back by expiry (bounded, oldest dropped first) */
  private readonly expiredLeases = new Map<string, { name: string; maxLeases: number }>();
  private nextWaiterId = 1;
  private totalLeases = 0;

  constructor(options: SemaphoreStateOptions = {}) {
    this.now = options.now ?? Date.now;
    this.leaseTimeoutMs = options.leaseTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS;
    if (!(this.leaseTimeoutMs > 0)) throw new TypeError(`invalid lease timeout: ${this.leaseTimeoutMs}`);
  }

  /** Names of the semaphores remembered now (held or waited on). */
  names(): string[] {
    return [...this.semaphores.keys()];
  }

  /** What a restart must bring back of one semaphore: its size and leases (undefined: nothing held). */
  snapshot(name: string): { maxLeases: number; leases: Array<[leaseId: string, holder: string]> } | undefined {
    const record = this.semaphores.get(name);
    if (record === undefined || record.leases.size === 0) return undefined;
    return { maxLeases: record.maxLeases, leases: [...record.leases].map(([leaseId, lease]) => [leaseId, lease.holder]) };
  }

  /**
   * Leases read back after a restart, counted as refreshed now: a holder that
   * comes back keeps its lease by refreshing it; one that does not loses it
   * after the lease timeout.
   */
  restore(name: string, maxLeases: number, leases: ReadonlyArray<readonly [string, string]>): void {
    const record = this.record(name, maxLeases);
    const now = this.now();
    for (const [leaseId, holder] of leases) if (!record.leases.has(leaseId)) this.addLease(record, leaseId, holder, now);
  }

  /** Leases held across every semaphore (the extension validates leases only while this is > 0). */
  get leaseCount(): number {
    return this.totalLeases;
  }

  register(name: string, maxLeases: number): void {
    this.record(name, maxLeases);
  }

  acquire(request: AcquireRequest): Decision<boolean> {
    const now = this.now();
    const deadline = deadlineFrom(now, request.timeoutMs);
    const record = this.record(request.name, request.maxLeases);
    if (record.leases.has(request.leaseId)) return { kind: 'done', result: true };
    if (record.waiters.size === 0 && record.leases.size < record.maxLeases) {
      this.addLease(record, request.leaseId, request.holder, now);
      return { kind: 'done', result: true };
    }
    if (deadline <= now) {
      this.dropIfIdle(request.name, record);
      return { kind: 'done', result: false };
    }
    const waiterId = this.nextWaiterId++;
    record.waiters.push({ id: waiterId, holder: request.holder, deadline, payload: { leaseId: request.leaseId } });
    this.waiterNames.set(waiterId, request.name);
    return { kind: 'parked', waiterId, deadline };
  }

  /**
   * Ends a lease. `released: false` when the lease had already been taken back
   * by expiry; a lease this semaphore never granted is an error.
   */
  release(name: string, leaseId: string): { released: boolean; wakes: Array<Wake<boolean>> } {
    const record = this.semaphores.get(name);
    if (record === undefined || !record.leases.has(leaseId)) {
      if (this.expiredLeases.get(leaseId)?.name === name) {
        this.expiredLeases.delete(leaseId);
        return { released: false, wakes: [] };
      }
      throw new CoordinationError(`Released too often: semaphore ${JSON.stringify(name)} holds no lease ${JSON.stringify(leaseId)}`);
    }
    this.removeLease(record, leaseId);
    const wakes = this.grantWaiters(record);
    this.dropIfIdle(name, record);
    return { released: true, wakes };
  }

  /** Marks leases as alive. Returns the ids that had expired and were taken back (oversubscribing). */
  refresh(name: string, leaseIds: readonly string[], holder: string): { resurrected: string[] } {
    const now = this.now();
    const resurrected: string[] = [];
    let record = this.semaphores.get(name);
    for (const leaseId of leaseIds) {
      const lease = record?.leases.get(leaseId);
      if (lease !== undefined) {
        lease.refreshedAt = now;
        continue;
      }
      const expired = this.expiredLeases.get(leaseId);
      if (expired?.name !== name) continue;
      this.expiredLeases.delete(leaseId);
      record ??= this.record(name, expired.maxLeases);
      this.addLease(record, leaseId, holder, now);
      resurrected.push(leaseId);
    }
    return { resurrected };
  }

  /** Leases currently held. */
  value(name: string): number {
    return this.semaphores.get(name)?.leases.size ?? 0;
  }

  maxLeases(name: string): number | undefined {
    return this.semaphores.get(name)?.maxLeases;
  }

  /** The waiter's deadline passed: it gets `false`. undefined if it was already answered. */
  timeOut(waiterId: number): Wake<boolean> | undefined {
    const name = this.waiterNames.get(waiterId);
    if (name === undefined) return undefined;
    this.waiterNames.delete(waiterId);
    const record = this.semaphores.get(name)!;
    const waiter = record.waiters.remove(waiterId)!;
    // Waiters only exist while the semaphore is full, so nobody else gets in here.
    this.dropIfIdle(name, record);
    return { waiterId, holder: waiter.holder, result: false };
  }

  /**
   * The holder (a client) is gone: its leases end and its waiters are
   * answered `false`; others may be granted.
   */
  holderGone(holder: string, options: { keepLeases?: boolean } = {}): Array<Wake<boolean>> {
    const wakes: Array<Wake<boolean>> = [];
    for (const [name, record] of [...this.semaphores]) {
      for (const waiter of record.waiters.removeHolder(holder)) {
        this.waiterNames.delete(waiter.id);
        wakes.push({ waiterId: waiter.id, holder, result: false });
      }
      // A holder that may come back (a connection blip) keeps its leases; they still expire unless refreshed.
      if (options.keepLeases !== true) {
        for (const [leaseId, lease] of [...record.leases]) {
          if (lease.holder === holder) this.removeLease(record, leaseId);
        }
      }
      wakes.push(...this.grantWaiters(record));
      this.dropIfIdle(name, record);
    }
    return wakes;
  }

  /** Takes back leases not refreshed within the lease timeout; grants waiters in their place. */
  expireStaleLeases(): { expired: ExpiredLease[]; wakes: Array<Wake<boolean>> } {
    const expired: ExpiredLease[] = [];
    const wakes: Array<Wake<boolean>> = [];
    if (this.leaseTimeoutMs === Infinity) return { expired, wakes };
    const oldestAlive = this.now() - this.leaseTimeoutMs;
    for (const [name, record] of [...this.semaphores]) {
      for (const [leaseId, lease] of [...record.leases]) {
        if (lease.refreshedAt >= oldestAlive) continue;
        this.removeLease(record, leaseId);
        this.rememberExpired(leaseId, name, record.maxLeases);
        expired.push({ name, leaseId, holder: lease.holder });
      }
      wakes.push(...this.grantWaiters(record));
      this.dropIfIdle(name, record);
    }
    return { expired, wakes };
  }

  /** Answers every waiter `false` and forgets everything (scheduler closing). */
  clearAll(): Array<Wake<boolean>> {
    const wakes: Array<Wake<boolean>> = [];
    for (const record of this.semaphores.values()) {
      for (const waiter of record.waiters.drain()) wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: false });
    }
    this.semaphores.clear();
    this.waiterNames.clear();
    this.expiredLeases.clear();
    this.totalLeases = 0;
    return wakes;
  }

  private record(name: string, maxLeases: number | undefined): SemaphoreRecord {
    if (maxLeases !== undefined && !(Number.isInteger(maxLeases) && maxLeases >= 1)) {
      throw new TypeError(`maxLeases must be a positive integer, got ${String(maxLeases)}`);
    }
    const existing = this.semaphores.get(name);
    if (existing !== undefined) {
      if (maxLeases !== undefined && maxLeases !== existing.maxLeases) {
        throw new CoordinationError(
          `Inconsistent maxLeases for semaphore ${JSON.stringify(name)}: registered with ${existing.maxLeases}, now ${maxLeases}`,
        );
      }
      return existing;
    }
    const record: SemaphoreRecord = {
      maxLeases: maxLeases ?? 1,
      leases: new Map(),
      waiters: new WaiterQueue(),
    };
    this.semaphores.set(name, record);
    return record;
  }

  private addLease(record: SemaphoreRecord, leaseId: string, holder: string, now: number): void {
    record.leases.set(leaseId, { holder, refreshedAt: now });
    this.totalLeases++;
  }

  private removeLease(record: SemaphoreRecord, leaseId: string): void {
    if (record.leases.delete(leaseId)) this.totalLeases--;
  }

  private grantWaiters(record: SemaphoreRecord): Array<Wake<boolean>> {
    const wakes: Array<Wake<boolean>> = [];
    if (record.waiters.size === 0) return wakes;
    const now = this.now();
    while (record.leases.size < record.maxLeases) {
      const waiter = record.waiters.shift();
      if (waiter === undefined) break;
      this.waiterNames.delete(waiter.id);
      this.addLease(record, waiter.payload.leaseId, waiter.holder, now);
      wakes.push({ waiterId: waiter.id, holder: waiter.holder, result: true });
    }
    return wakes;
  }

  /** Idle semaphores are forgotten, so unnamed (random) locks do not accumulate. */
  private dropIfIdle(name: string, record: SemaphoreRecord): void {
    if (record.leases.size === 0 && record.waiters.size === 0) this.semaphores.delete(name);
  }

  private rememberExpired(leaseId: string, name: string, maxLeases: number): void {
    this.expiredLeases.set(leaseId, { name, maxLeases });
    if (this.expiredLeases.size > REMEMBERED_EXPIRED_LEASES) {
      const oldest = this.expiredLeases.keys().next().value as string;
      this.expiredLeases.delete(oldest);
    }
  }
}
