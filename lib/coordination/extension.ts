/**
 * The scheduler side of Lock, Semaphore, Event, Queue and Variable: RPC
 * handlers over the pure state classes. A request that must wait returns a
 * promise that resolves when it is granted, woken or timed out (the mailbox
 * replies then; the inbox is never held up). Timeouts are enforced here, not
 * by the caller, so a caller that gave up never ends up holding a lease.
 *
 * Wiring (done by the Scheduler actor): merge `handlers` into its own, call
 * `peerClosed(clientId)` when a client goes away, `close()` when closing.
 */
import type { Peer } from '../comm/mailbox.js';
import { childLogger } from '../logging.js';
import type { CoordinationItem, OpDict } from '../protocol/messages.js';
import { parseDuration } from '../units.js';
import { EventState } from './event-state.js';
import type { KeyChanges } from './key-holds.js';
import { QueueState, type QueueResult } from './queue-state.js';
import { DEFAULT_LEASE_TIMEOUT_MS, SemaphoreState } from './semaphore-state.js';
import { VariableState, type VariableResult } from './variable-state.js';
import type { Decision, Wake } from './waiters.js';

export type ExtensionHandler = (msg: OpDict, from: Peer | undefined) => unknown;

export interface SchedulerExtension {
  readonly handlers: Record<string, ExtensionHandler>;
  /** A client (or worker) is gone: leases it held end, its parked requests are dropped. */
  peerClosed?(holderId: string): void;
  close?(): void;
}

/** What a scheduler extension learns of a client whose connection dropped but which may come back (a grace period). */
export interface DisconnectAware {
  /** Its parked requests are dropped (it asks again once back); what it holds stays. */
  peerDisconnected(holderId: string): void;
}

export interface CoordinationHost {
  now(): number;
  /**
   * `client` wants `key` (the scheduler's who-wants set). Called with the
   * pseudo-clients `queue-<name>` / `variable-<name>`, and with a real client
   * id when a future key is handed to that client (before the queue lets go).
   */
  desireKey(client: string, key: string): void;
  releaseKey(client: string, key: string): void;
  /** One-shot timer (the host should unref it); returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * Where the primitives' state goes to outlive the scheduler (lib/scheduler/state-store.ts).
 * `write(key, undefined)` deletes; the promise settles once the write is durable.
 */
export interface CoordinationStore {
  write(key: string, value: unknown): Promise<void>;
}

/** What `restore` brought back, by kind (for the "restored state: …" log line). */
export interface RestoredCounts {
  locksAndSemaphores: number;
  leases: number;
  events: number;
  queues: number;
  queueItems: number;
  variables: number;
}

type Kind = 'semaphore' | 'event' | 'queue' | 'variable';

/** Which primitive an op changes (ops that only read are absent). */
const MUTATING_OPS: Readonly<Record<string, Kind>> = {
  semaphore_acquire: 'semaphore', semaphore_release: 'semaphore', semaphore_refresh_leases: 'semaphore',
  event_set: 'event', event_clear: 'event',
  queue_create: 'queue', queue_put: 'queue', queue_get: 'queue',
  variable_set: 'variable', variable_delete: 'variable',
};

export interface CoordinationExtensionOptions {
  /** Keep the primitives' state here (scheduler --state-dir); default: in memory only. */
  store?: CoordinationStore;
  /** Leases not refreshed for this long expire (default 30 s; Infinity: never). */
  leaseTimeout?: number | string;
  /** How often leases are checked while any is held (default leaseTimeout / 3, at most 10 s). */
  leaseValidationInterval?: number | string;
}

export type QueueReply =
  | { status: 'OK'; items?: CoordinationItem[] }
  | { status: 'timeout' }
  | { status: 'cancelled' };
export type VariableReply =
  | { status: 'OK'; item: CoordinationItem }
  | { status: 'timeout' }
  | { status: 'cancelled' };
export interface AcquireReply { acquired: boolean; leaseTimeout: number | null }

const log = childLogger('coordination');

/** Requests parked on one primitive kind, by waiter id. */
class ParkedCalls<R> {
  private readonly pending = new Map<number, { resolve: (reply: unknown) => void; cancelTimer?: () => void }>();

  constructor(
    private readonly host: CoordinationHost,
    private readonly toReply: (result: R, holder: string) => unknown,
    private readonly onDeadline: (waiterId: number) => void,
  ) {}

  /** The reply now, or a promise of it. */
  answer(decision: Decision<R>, holder: string): unknown {
    if (decision.kind === 'done') return this.toReply(decision.result, holder);
    return new Promise((resolve) => {
      const entry: { resolve: (reply: unknown) => void; cancelTimer?: () => void } = { resolve };
      if (decision.deadline !== Infinity) {
        const delay = Math.max(0, decision.deadline - this.host.now());
        entry.cancelTimer = this.host.setTimer(delay, () => this.onDeadline(decision.waiterId));
      }
      this.pending.set(decision.waiterId, entry);
    });
  }

  deliver(wakes: ReadonlyArray<Wake<R>>): void {
    for (const wake of wakes) {
      const entry = this.pending.get(wake.waiterId);
      if (entry === undefined) continue;
      this.pending.delete(wake.waiterId);
      entry.cancelTimer?.();
      entry.resolve(this.toReply(wake.result, wake.holder));
    }
  }

  get size(): number {
    return this.pending.size;
  }
}

export interface CoordinationExtension extends SchedulerExtension, DisconnectAware {
  peerClosed(holderId: string): void;
  close(): void;
  /** Parked requests per primitive kind (diagnostics and tests). */
  parkedCounts(): { semaphore: number; event: number; queue: number; variable: number };
  /** Keep state in `store` from now on (the scheduler opens it before it serves anyone). */
  useStore(store: CoordinationStore): void;
  /** Brings back what a store held (records keyed `<kind>/<name>`), before any request. */
  restore(records: Iterable<readonly [string, unknown]>): RestoredCounts;
}

export function createCoordinationExtension(
  host: CoordinationHost,
  options: CoordinationExtensionOptions = {},
): CoordinationExtension {
  const now = (): number => host.now();
  const leaseTimeoutMs = options.leaseTimeout === undefined ? DEFAULT_LEASE_TIMEOUT_MS : parseDuration(options.leaseTimeout);
  const validationMs =
    options.leaseValidationInterval === undefined
      ? Math.min(10_000, leaseTimeoutMs / 3)
      : parseDuration(options.leaseValidationInterval);
  const leaseTimeoutReply = Number.isFinite(leaseTimeoutMs) ? leaseTimeoutMs : null;

  const semaphores = new SemaphoreState({ now, leaseTimeoutMs });
  const events = new EventState({ now });
  const queues = new QueueState({ now });
  const variables = new VariableState({ now });
  let closed = false;
  let cancelLeaseTimer: (() => void) | undefined;

  const handItemTo = (item: CoordinationItem, holder: string): CoordinationItem => {
    if (item.type === 'future') host.desireKey(holder, item.key);
    return item;
  };

  const semaphoreCalls: ParkedCalls<boolean> = new ParkedCalls(
    host,
    (acquired): AcquireReply => ({ acquired, leaseTimeout: leaseTimeoutReply }),
    (waiterId) => {
      const wake = semaphores.timeOut(waiterId);
      if (wake !== undefined) semaphoreCalls.deliver([wake]);
    },
  );
  const eventCalls: ParkedCalls<boolean> = new ParkedCalls(host, (isSet) => isSet, (waiterId) => {
    const wake = events.timeOut(waiterId);
    if (wake !== undefined) eventCalls.deliver([wake]);
  });
  const queueCalls: ParkedCalls<QueueResult> = new ParkedCalls(
    host,
    (result, holder): QueueReply => {
      switch (result.kind) {
        case 'put': return { status: 'OK' };
        case 'items': return { status: 'OK', items: result.items.map((item) => handItemTo(item, holder)) };
        default: return { status: result.kind };
      }
    },
    (waiterId) => {
      const change = queues.timeOut(waiterId);
      if (change !== undefined) settleQueue(change.name, undefined, change.wakes, change.keys);
    },
  );
  const variableCalls: ParkedCalls<VariableResult> = new ParkedCalls(
    host,
    (result, holder): VariableReply =>
      result.kind === 'item' ? { status: 'OK', item: handItemTo(result.item, holder) } : { status: result.kind },
    (waiterId) => {
      const wake = variables.timeOut(waiterId);
      if (wake !== undefined) variableCalls.deliver([wake]);
    },
  );

  /** Order matters: new holds first, then answers (which hand keys to getters), then releases. */
  function settleQueue(
    name: string,
    answer: (() => unknown) | undefined,
    wakes: ReadonlyArray<Wake<QueueResult>>,
    keys: KeyChanges,
  ): unknown {
    const pseudoClient = `queue-${name}`;
    for (const key of keys.hold) host.desireKey(pseudoClient, key);
    const reply = answer?.();
    queueCalls.deliver(wakes);
    for (const key of keys.release) host.releaseKey(pseudoClient, key);
    return reply;
  }

  function settleVariable(name: string, wakes: ReadonlyArray<Wake<VariableResult>>, keys: KeyChanges): void {
    const pseudoClient = `variable-${name}`;
    for (const key of keys.hold) host.desireKey(pseudoClient, key);
    variableCalls.deliver(wakes);
    for (const key of keys.release) host.releaseKey(pseudoClient, key);
  }

  function grantSemaphores(wakes: ReadonlyArray<Wake<boolean>>): void {
    semaphoreCalls.deliver(wakes);
    ensureLeaseTimer();
  }

  function ensureLeaseTimer(): void {
    if (closed || cancelLeaseTimer !== undefined || semaphores.leaseCount === 0 || !Number.isFinite(leaseTimeoutMs)) return;
    cancelLeaseTimer = host.setTimer(validationMs, () => {
      cancelLeaseTimer = undefined;
      const { expired, wakes } = semaphores.expireStaleLeases();
      for (const lease of expired) {
        log.warn({ semaphore: lease.name, leaseId: lease.leaseId, holder: lease.holder }, 'lease expired: not refreshed in time');
        if (store !== undefined) void touch('semaphore', lease.name);
      }
      grantSemaphores(wakes);
    });
  }

  const handlers: Record<string, ExtensionHandler> = {
    semaphore_register(msg) {
      semaphores.register(text(msg, 'name'), positiveInteger(msg, 'maxLeases'));
      return { leaseTimeout: leaseTimeoutReply };
    },
    semaphore_acquire(msg) {
      const holder = text(msg, 'holder');
      const decision = semaphores.acquire({
        name: text(msg, 'name'),
        maxLeases: positiveInteger(msg, 'maxLeases'),
        leaseId: text(msg, 'leaseId'),
        holder,
        timeoutMs: timeout(msg),
      });
      const reply = semaphoreCalls.answer(decision, holder);
      ensureLeaseTimer();
      return reply;
    },
    semaphore_release(msg) {
      const { released, wakes } = semaphores.release(text(msg, 'name'), text(msg, 'leaseId'));
      grantSemaphores(wakes);
      return { released };
    },
    semaphore_refresh_leases(msg) {
      const name = text(msg, 'name');
      const { resurrected } = semaphores.refresh(name, textList(msg, 'leaseIds'), text(msg, 'holder'));
      if (resurrected.length > 0) {
        log.error({ semaphore: name, leaseIds: resurrected }, 'refreshed expired leases: the semaphore may be oversubscribed');
      }
      ensureLeaseTimer();
      return { resurrected };
    },
    semaphore_value(msg) {
      return semaphores.value(text(msg, 'name'));
    },

    event_wait(msg) {
      const holder = text(msg, 'holder');
      return eventCalls.answer(events.wait({ name: text(msg, 'name'), holder, timeoutMs: timeout(msg) }), holder);
    },
    event_set(msg) {
      eventCalls.deliver(events.set(text(msg, 'name')));
      return null;
    },
    event_clear(msg) {
      events.clear(text(msg, 'name'));
      return null;
    },
    event_is_set(msg) {
      return events.isSet(text(msg, 'name'));
    },

    queue_create(msg) {
      queues.create(text(msg, 'name'), optionalMaxsize(msg));
      return null;
    },
    queue_put(msg) {
      const name = text(msg, 'name');
      const holder = text(msg, 'holder');
      const { decision, wakes, keys } = queues.put({
        name, holder, maxsize: optionalMaxsize(msg), item: coordinationItem(msg), timeoutMs: timeout(msg),
      });
      return settleQueue(name, () => queueCalls.answer(decision, holder), wakes, keys);
    },
    queue_get(msg) {
      const name = text(msg, 'name');
      const holder = text(msg, 'holder');
      const { decision, wakes, keys } = queues.get({
        name, holder, maxsize: optionalMaxsize(msg), timeoutMs: timeout(msg), batch: batchOf(msg),
      });
      return settleQueue(name, () => queueCalls.answer(decision, holder), wakes, keys);
    },
    queue_qsize(msg) {
      return queues.qsize(text(msg, 'name'));
    },

    variable_set(msg) {
      const name = text(msg, 'name');
      const { wakes, keys } = variables.set(name, coordinationItem(msg));
      settleVariable(name, wakes, keys);
      return { status: 'OK' };
    },
    variable_get(msg) {
      const holder = text(msg, 'holder');
      return variableCalls.answer(variables.get({ name: text(msg, 'name'), holder, timeoutMs: timeout(msg) }), holder);
    },
    variable_delete(msg) {
      const name = text(msg, 'name');
      settleVariable(name, [], variables.delete(name));
      return null;
    },
  };

  /* ---------------- durability (scheduler --state-dir) ---------------- */

  let store = options.store;
  const dirty = new Map<string, [Kind, string]>();
  let flushing: Promise<void> | undefined;

  function snapshotOf(kind: Kind, name: string): unknown {
    switch (kind) {
      case 'semaphore': return semaphores.snapshot(name);
      case 'event': return events.isSet(name) ? { isSet: true } : undefined;
      case 'queue': return queues.snapshot(name);
      case 'variable': return variables.peek(name);
    }
  }

  /** Writes every primitive changed since the last flush (once per tick, however many changes). */
  function touch(kind: Kind, name: string): Promise<void> {
    dirty.set(`${kind}/${name}`, [kind, name]);
    flushing ??= Promise.resolve().then(() => {
      flushing = undefined;
      const writes: Promise<void>[] = [];
      for (const [key, [k, n]] of dirty) writes.push(store!.write(key, snapshotOf(k, n)));
      dirty.clear();
      return Promise.all(writes).then(() => undefined);
    });
    return flushing;
  }

  function touchAll(): void {
    if (store === undefined) return;
    for (const name of semaphores.names()) void touch('semaphore', name);
    for (const name of queues.names()) void touch('queue', name);
  }

  for (const [op, kind] of Object.entries(MUTATING_OPS)) {
    const handle = handlers[op]!;
    // With a store, the reply waits for the write: what a caller was told happened survives a crash.
    handlers[op] = (msg, from) => {
      const reply = handle(msg, from);
      if (store === undefined) return reply;
      const written = touch(kind, text(msg, 'name')).catch((error: unknown) => {
        log.error({ err: error, op }, 'could not write coordination state to the state dir');
      });
      return isThenable(reply) ? reply : written.then(() => reply);
    };
  }

  function restore(records: Iterable<readonly [string, unknown]>): RestoredCounts {
    const counts: RestoredCounts = { locksAndSemaphores: 0, leases: 0, events: 0, queues: 0, queueItems: 0, variables: 0 };
    for (const [key, value] of records) {
      const slash = key.indexOf('/');
      const kind = key.slice(0, slash);
      const name = key.slice(slash + 1);
      try {
        switch (kind) {
          case 'semaphore': {
            const { maxLeases, leases } = value as { maxLeases: number; leases: Array<[string, string]> };
            semaphores.restore(name, maxLeases, leases);
            counts.locksAndSemaphores++;
            counts.leases += leases.length;
            break;
          }
          case 'event':
            events.set(name);
            counts.events++;
            break;
          case 'queue': {
            const { maxsize, items } = value as { maxsize: number; items: CoordinationItem[] };
            const keys = queues.restore(name, maxsize, items);
            for (const key of keys.hold) host.desireKey(`queue-${name}`, key);
            counts.queues++;
            counts.queueItems += items.length;
            break;
          }
          case 'variable': {
            const { keys } = variables.set(name, value as CoordinationItem);
            for (const key of keys.hold) host.desireKey(`variable-${name}`, key);
            counts.variables++;
            break;
          }
          default:
            break;
        }
      } catch (error) {
        log.error({ err: error, record: key }, 'a stored coordination record could not be restored; skipped');
      }
    }
    ensureLeaseTimer();
    return counts;
  }

  return {
    handlers,
    restore,
    useStore(next: CoordinationStore): void {
      store = next;
    },
    peerClosed(holderId: string): void {
      touchAll();
      semaphoreCalls.deliver(semaphores.holderGone(holderId));
      ensureLeaseTimer();
      eventCalls.deliver(events.holderGone(holderId));
      variableCalls.deliver(variables.holderGone(holderId));
      for (const change of queues.holderGone(holderId)) settleQueue(change.name, undefined, change.wakes, change.keys);
    },
    peerDisconnected(holderId: string): void {
      // Its calls in waiting are answered to nobody: it sends them again after reconnecting,
      // and a grant meanwhile would be a lease nobody knows of. Its leases stay (they expire unless refreshed).
      semaphoreCalls.deliver(semaphores.holderGone(holderId, { keepLeases: true }));
      eventCalls.deliver(events.holderGone(holderId));
      variableCalls.deliver(variables.holderGone(holderId));
      for (const change of queues.holderGone(holderId)) settleQueue(change.name, undefined, change.wakes, change.keys);
    },
    close(): void {
      if (closed) return;
      closed = true;
      cancelLeaseTimer?.();
      cancelLeaseTimer = undefined;
      semaphoreCalls.deliver(semaphores.clearAll());
      eventCalls.deliver(events.clearAll());
      queueCalls.deliver(queues.clearAll().wakes);
      variableCalls.deliver(variables.clearAll().wakes);
    },
    parkedCounts() {
      return { semaphore: semaphoreCalls.size, event: eventCalls.size, queue: queueCalls.size, variable: variableCalls.size };
    },
  };
}

/* ---------------------------------------------------------------- */
/* message fields: bad input is a clear TypeError reply, never a crash */
/* ---------------------------------------------------------------- */

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function text(msg: OpDict, field: string): string {
  const value = msg[field];
  if (typeof value !== 'string' || value === '') throw new TypeError(`${msg.op}: '${field}' must be a non-empty string`);
  return value;
}

function textList(msg: OpDict, field: string): string[] {
  const value = msg[field];
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new TypeError(`${msg.op}: '${field}' must be a list of strings`);
  }
  return value as string[];
}

function positiveInteger(msg: OpDict, field: string): number {
  const value = msg[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`${msg.op}: '${field}' must be a positive integer`);
  }
  return value;
}

function optionalMaxsize(msg: OpDict): number | undefined {
  const value = msg['maxsize'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new TypeError(`${msg.op}: 'maxsize' must be an integer >= 0`);
  }
  return value;
}

function timeout(msg: OpDict): number | undefined {
  const value = msg['timeout'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' && typeof value !== 'string') throw new TypeError(`${msg.op}: 'timeout' must be milliseconds or a duration string`);
  return parseDuration(value);
}

function batchOf(msg: OpDict): boolean | number | undefined {
  const value = msg['batch'];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  throw new TypeError(`${msg.op}: 'batch' must be true, false or a count >= 0`);
}

function coordinationItem(msg: OpDict): CoordinationItem {
  const item = msg['item'] as Partial<Record<string, unknown>> | null | undefined;
  if (item !== null && typeof item === 'object') {
    if (item['type'] === 'value' && item['value'] instanceof Uint8Array) return { type: 'value', value: item['value'] };
    if (item['type'] === 'future' && typeof item['key'] === 'string' && item['key'] !== '') return { type: 'future', key: item['key'] };
  }
  throw new TypeError(`${msg.op}: 'item' must be { type: 'value', value: Uint8Array } or { type: 'future', key: string }`);
}
