/**
 * What lets a scheduler's world outlive the scheduler (API.md "Surviving the
 * scheduler"), as an extension of the scheduler actor:
 * - values workers bring back when they re-register become `memory`; those no
 *   client claims within `heldOverTtl` are let go;
 * - with a state dir (lib/scheduler/state-store.ts) the coordination
 *   primitives, published datasets and unfinished fire-and-forget recipes are
 *   written through and restored on start; future keys they hold are held
 *   again once a worker brings them back (or a client resubmits them).
 */
import type { Logger } from 'pino';
import type { CoordinationExtension, ExtensionHandler } from '../../lib/coordination/extension.js';
import type { GraphTask } from '../../lib/protocol/messages.js';
import type { Dataset } from './datasets.js';
import { FIRE_AND_FORGET, HELD_OVER, PUBLISHED_PREFIX } from '../../lib/scheduler/records.js';
import type { HeldEntry, SchedulerMessages, SchedulerState, SettledKey } from '../../lib/scheduler/state.js';
import { StateStore } from '../../lib/scheduler/state-store.js';
import { recipesOf } from '../../lib/scheduler/task-recipes.js';
import { ALL_TOPIC } from '../../lib/scheduler/events.js';
import { RECOVERY_TOPIC, restoredStateEvent, type RecoveryEvent } from '../../lib/scheduler/recovery-notes.js';

export interface RecoveryHost {
  readonly state: SchedulerState;
  readonly log: Logger;
  readonly coordination: CoordinationExtension;
  readonly datasets: Map<string, Dataset>;
  sendOut(out: SchedulerMessages): void;
  /** Into the scheduler's own inbox (timers). */
  post(msg: { op: string; [field: string]: unknown }): void;
  whenSettled(key: string): Promise<SettledKey>;
  /** Onto the scheduler's event topics (the dashboard's recovery panel reads RECOVERY_TOPIC). */
  logEvent(topic: string[], msg: RecoveryEvent): void;
}

export interface Recovery {
  readonly handlers: Record<string, ExtensionHandler>;
  /** True with a state dir. */
  readonly durable: boolean;
  /** Opens the state dir and restores what it holds (before the scheduler serves anyone). */
  openStore(dir: string): Promise<void>;
  /** A worker reports values it holds (re-registration, or `held-keys`). */
  adoptHeld(worker: string, held: readonly HeldEntry[], stimulusId: string): void;
  /** A pseudo-client (queue, variable, dataset) wants a key nobody has brought back yet. */
  awaitHold(key: string, holder: string): void;
  /** Keys that became known (a client resubmitted them): restored holds on them take effect. */
  keysKnown(keys: Iterable<string>): void;
  /** Keys handed to fire-and-forget: their recipes are kept until they are done. */
  firedAndForgotten(keys: readonly string[]): void;
  /** Writes one record when durable (settles once committed). */
  persist(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;

export function createRecovery(host: RecoveryHost, options: { heldOverTtlMs: number }): Recovery {
  let store: StateStore | undefined;
  const heldOverTimers = new Set<NodeJS.Timeout>();
  /** Restored holds on keys no worker has brought back yet: key -> pseudo-clients. */
  const awaitedHolds = new Map<string, Set<string>>();

  const stimulus = (name: string): string => host.state.nextStimulusId(name);

  function persist(key: string, value: unknown): Promise<void> {
    if (store === undefined) return Promise.resolve();
    return store.write(key, value).catch((error: unknown) => {
      host.log.error({ err: error, record: key }, 'could not write to the state dir');
    });
  }

  function awaitHold(key: string, holder: string): void {
    let holders = awaitedHolds.get(key);
    if (holders === undefined) awaitedHolds.set(key, (holders = new Set()));
    holders.add(holder);
  }

  function keysKnown(keys: Iterable<string>): void {
    if (awaitedHolds.size === 0) return;
    for (const key of keys) {
      const holders = awaitedHolds.get(key);
      if (holders === undefined || !host.state.tasks.has(key)) continue;
      awaitedHolds.delete(key);
      for (const holder of holders) host.sendOut(host.state.clientDesiresKeys(holder, [key], stimulus('restored-hold')));
    }
  }

  function watchFireAndForget(key: string): void {
    void host.whenSettled(key).then((entry) => {
      // 'forgotten' also answers waiters when the scheduler closes: then the work is not done.
      if (entry.state === 'memory' || entry.state === 'erred') void persist(`fire-and-forget/${key}`, undefined);
    });
  }

  async function openStore(dir: string): Promise<void> {
    const opened = await StateStore.open(dir);
    store = opened;
    host.coordination.useStore(opened);
    const counts = host.coordination.restore([
      ...opened.records('semaphore'), ...opened.records('event'), ...opened.records('queue'), ...opened.records('variable'),
    ]);
    let datasets = 0;
    for (const [key, value] of opened.records('dataset')) {
      const name = key.slice('dataset/'.length);
      const { keys, data } = (value ?? {}) as { keys?: unknown; data?: unknown };
      if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string') || !(data instanceof Uint8Array)) {
        host.log.error({ record: key }, 'a stored dataset is malformed; skipped');
        continue;
      }
      host.datasets.set(name, { keys: keys as string[], data });
      for (const k of keys as string[]) awaitHold(k, `${PUBLISHED_PREFIX}${name}`);
      datasets++;
    }
    let fired = 0;
    for (const [key, value] of opened.records('fire-and-forget')) {
      const tasks = (value as { tasks?: unknown } | undefined)?.tasks;
      const target = key.slice('fire-and-forget/'.length);
      if (!Array.isArray(tasks)) continue;
      // Run again: a worker that comes back holding the value (or a piece of it) spares the work.
      host.sendOut(host.state.updateGraph(FIRE_AND_FORGET, tasks as GraphTask[], [target], stimulus('restored-fire-and-forget')));
      if (!host.state.tasks.has(target)) {
        host.log.warn({ key: target }, 'a stored fire-and-forget task could not be submitted again (a piece of it has no recipe); dropped');
        void persist(key, undefined);
        continue;
      }
      watchFireAndForget(target);
      fired++;
    }
    const restored = counts.variables + counts.queues + counts.locksAndSemaphores + counts.events + datasets + fired;
    if (restored === 0) {
      host.log.info({ stateDir: dir }, 'state dir holds nothing yet: starting fresh');
      return;
    }
    const parts = [
      plural(counts.variables, 'variable'),
      `${plural(counts.queues, 'queue')} (${plural(counts.queueItems, 'item')})`,
      `${plural(counts.locksAndSemaphores, 'lock/semaphore')} (${plural(counts.leases, 'lease')})`,
      `${plural(counts.events, 'event')} set`,
      plural(datasets, 'dataset'),
      ...(fired > 0 ? [plural(fired, 'fire-and-forget task')] : []),
    ];
    const summary = `restored state: ${parts.join(', ')}`;
    host.log.warn({ stateDir: dir, ...counts, datasets, fired }, summary);
    host.logEvent([RECOVERY_TOPIC, ALL_TOPIC], restoredStateEvent(summary, { ...counts, datasets, fired }));
  }

  return {
    handlers: {
      'held-over-expired': (msg, from) => {
        if (from === undefined) host.sendOut(host.state.clientReleasesKeys(HELD_OVER, msg.keys as string[], stimulus('held-over-expired')));
      },
    },
    get durable() {
      return store !== undefined;
    },
    openStore,
    adoptHeld(worker, held, stimulusId) {
      if (held.length === 0) return;
      const unknown = held.filter((entry) => !host.state.tasks.has(entry.key)).map((entry) => entry.key);
      host.sendOut(host.state.adoptHeld(worker, held, HELD_OVER, stimulusId));
      keysKnown(held.map((entry) => entry.key));
      if (unknown.length === 0) return;
      // Values no client wants yet wait heldOverTtl for their clients to come back.
      const timer = setTimeout(() => {
        heldOverTimers.delete(timer);
        host.post({ op: 'held-over-expired', keys: unknown });
      }, options.heldOverTtlMs);
      timer.unref();
      heldOverTimers.add(timer);
    },
    awaitHold,
    keysKnown,
    firedAndForgotten(keys) {
      if (store === undefined) return;
      for (const key of keys) {
        const state = host.state.tasks.get(key)?.state;
        if (state === undefined || state === 'memory' || state === 'erred') continue;
        const tasks = recipesOf(host.state.tasks, key);
        if (tasks.length === 0) continue;
        void persist(`fire-and-forget/${key}`, { tasks });
        watchFireAndForget(key);
      }
    },
    persist,
    async close() {
      for (const timer of heldOverTimers) clearTimeout(timer);
      heldOverTimers.clear();
      await store?.close();
    },
  };
}
