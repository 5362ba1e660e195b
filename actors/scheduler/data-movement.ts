/**
 * Data the scheduler moves between clients and workers, or among workers:
 * `scatter` (values sent through the scheduler), `scatter-plan` and
 * `scatter-placed` (a client placing large values on workers itself),
 * `replicate` and `rebalance` (workers fetch copies straight from the
 * holders; the plans are pure: lib/scheduler/data-movement.ts).
 */
import { DistributedError, TimeoutError } from '../../lib/errors.js';
import { inboxHandlers } from '../../lib/comm/mailbox.js';
import { placeByPlan } from '../../lib/protocol/direct-transfer.js';
import type { HeldBlob, SchedulerInbox } from '../../lib/protocol/messages.js';
import { acquired, acquisitionsOf, planRebalance, planReplicate, type Acquisition } from '../../lib/scheduler/data-movement.js';
import type { PlacedData } from '../../lib/scheduler/state.js';
import { isHeldBlob, optionalStrings, requireKeys, requireString } from './checks.js';
import type { SchedulerExtension, SchedulerHost } from './host.js';

/** replicate/rebalance: how long the recipients may take to fetch, and how often to look. */
const DATA_MOVE_TIMEOUT_MS = 60_000;
const DATA_MOVE_POLL_MS = 10;

export interface DataMovementExtension extends SchedulerExtension {
  /** Recipients fetch straight from the holders (acquire-replicas); resolves once the scheduler has seen every copy. */
  acquire(plan: readonly Acquisition[]): Promise<void>;
}

export function createDataMovementExtension(host: SchedulerHost): DataMovementExtension {
  /** Which workers should receive which keys (round-robin by threads, or every worker with `broadcast`). */
  async function placementFor(keys: string[], msg: { workers?: unknown; broadcast?: unknown }, op: string): Promise<Record<string, string[]>> {
    const workers = optionalStrings(msg.workers, 'workers', op);
    if (workers === undefined && host.state.running.length === 0) await host.workersAtLeast(1, undefined);
    return Object.fromEntries(host.state.planScatter(keys, { ...(workers !== undefined ? { workers } : {}), broadcast: msg.broadcast === true }));
  }

  async function acquire(plan: readonly Acquisition[]): Promise<void> {
    for (const { worker, whoHas, nbytes } of plan) {
      const peer = host.workerPeers.get(worker);
      if (peer !== undefined && !peer.closed) peer.send({ op: 'acquire-replicas', whoHas, nbytes, stimulusId: host.state.nextStimulusId('acquire-replicas') });
    }
    const deadline = Date.now() + DATA_MOVE_TIMEOUT_MS;
    while (!acquired(host.state, plan)) {
      if (Date.now() > deadline) throw new TimeoutError(`workers did not fetch their copies within ${DATA_MOVE_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, DATA_MOVE_POLL_MS));
    }
  }

  return {
    acquire,
    handlers: inboxHandlers<SchedulerInbox>({
      scatter: async (msg) => {
        const client = requireString(msg.client, 'client', 'scatter');
        const data: unknown = msg.data;
        if (typeof data !== 'object' || data === null) throw new DistributedError('scatter: data must be an object of key -> Blob');
        const values = data as Record<string, unknown>;
        const keys = Object.keys(values);
        for (const key of keys) if (!isHeldBlob(values[key])) throw new DistributedError(`scatter: the value of ${key} is not a Blob`);
        if (keys.length === 0) return { keys };
        const plan = await placementFor(keys, msg, 'scatter');
        const placed = await placeByPlan(plan, msg.data, async (address, subset) => {
          try {
            const peer = host.workerPeers.get(address);
            if (peer === undefined) throw new DistributedError(`${address} is not connected`);
            await peer.call({ op: 'update_data', data: subset });
          } catch (error) {
            host.log.warn({ err: error, worker: address }, 'update_data failed during scatter');
            throw error;
          }
        });
        const failed = keys.filter((key) => !placed.has(key));
        if (failed.length > 0) throw new DistributedError(`scatter: could not place ${failed.slice(0, 5).join(', ')} on any worker`);
        host.sendOut(
          host.state.addData(
            client,
            keys.map((key) => ({ key, nbytes: (values[key] as HeldBlob).byteLength, workers: placed.get(key)! })),
            host.state.nextStimulusId('scatter'),
          ),
        );
        return { keys };
      },
      // A client scattering large values itself: where to put them (it then sends them and says `scatter-placed`).
      'scatter-plan': async (msg) => {
        const keys = requireKeys(msg.keys, 'scatter-plan');
        return { plan: keys.length === 0 ? {} : await placementFor(keys, msg, 'scatter-plan') };
      },
      // A client placed scattered values on workers itself: they are in memory there now, and the client wants them.
      'scatter-placed': (msg) => {
        const client = requireString(msg.client, 'client', 'scatter-placed');
        const placed: unknown = msg.placed;
        if (!Array.isArray(placed)) throw new DistributedError('scatter-placed: placed must be a list of { key, nbytes, workers }');
        const entries: PlacedData[] = placed.map((entry: unknown) => {
          const { key, nbytes, workers } = (entry ?? {}) as { key?: unknown; nbytes?: unknown; workers?: unknown };
          if (typeof key !== 'string' || typeof nbytes !== 'number' || !Array.isArray(workers) || !workers.every((w) => typeof w === 'string')) {
            throw new DistributedError('scatter-placed: each entry needs key (string), nbytes (number) and workers (strings)');
          }
          return { key, nbytes, workers: workers as string[] };
        });
        host.sendOut(host.state.addData(client, entries, host.state.nextStimulusId('scatter')));
        return { keys: entries.map((entry) => entry.key) };
      },
      replicate: async (msg) => {
        const keys = requireKeys(msg.keys, 'replicate');
        const n: unknown = msg.n ?? undefined;
        if (n !== undefined && !(typeof n === 'number' && Number.isInteger(n) && n >= 1)) throw new DistributedError('replicate: n must be a positive integer');
        const workers = optionalStrings(msg.workers, 'workers', 'replicate');
        await acquire(planReplicate(host.state, keys, { ...(n !== undefined ? { n } : {}), ...(workers !== undefined ? { workers } : {}) }));
        return { status: 'OK' };
      },
      rebalance: async (msg) => {
        const keys = optionalStrings(msg.keys, 'keys', 'rebalance');
        const workers = optionalStrings(msg.workers, 'workers', 'rebalance');
        const moves = planRebalance(host.state, keys, workers);
        await acquire(acquisitionsOf(moves));
        const bySender = new Map<string, string[]>();
        for (const move of moves) {
          const list = bySender.get(move.from);
          if (list === undefined) bySender.set(move.from, [move.key]);
          else list.push(move.key);
        }
        for (const [sender, dropped] of bySender) host.sendOut(host.state.dropReplicas(sender, dropped, host.state.nextStimulusId('rebalance')));
        return { status: 'OK', moved: moves.length };
      },
    }),
  };
}
