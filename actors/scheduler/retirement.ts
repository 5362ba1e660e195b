/**
 * The scheduler extension behind `client.retireWorkers` (and scale-down by
 * `cluster.scale`/`adapt`): a retiring worker gets no new tasks, finishes the
 * ones it has, its unique data is copied to staying workers (the recipients
 * fetch straight from it), and only then is it removed — an expected
 * departure, so nothing is recomputed and nothing counts as a crash — and
 * closed, through its nanny when it has one (so the nanny does not restart it).
 *
 * A worker whose unique data has nowhere to go (no staying worker), or that
 * hosts an actor (its instance lives in that process), is not retired: it
 * goes back to `running` and the reply lists it in `notRetired`, as dask's
 * `retire_workers` leaves such workers out.
 */
import { DistributedError, TimeoutError } from '../../lib/errors.js';
import { childLogger } from '../../lib/logging.js';
import type { OpDict, WorkerStatus } from '../../lib/protocol/messages.js';
import type { Acquisition } from '../../lib/scheduler/data-movement.js';
import { planRetirement, readyToLeave, workersToClose } from '../../lib/scheduler/retirement.js';
import type { SchedulerState, WorkerSummary } from '../../lib/scheduler/state.js';
import { parseDuration } from '../../lib/units.js';
import type { ExtensionHandler, SchedulerExtension } from '../../lib/coordination/extension.js';

export interface RetirementHost {
  readonly state: SchedulerState;
  /** Sets the scheduler's view of a worker's status ('closing' keeps new tasks off it). */
  setWorkerStatus(address: string, status: WorkerStatus): void;
  /** Recipients fetch the planned keys; resolves once the scheduler has seen every copy. */
  acquire(plan: readonly Acquisition[]): Promise<void>;
  /** Removes the worker as an expected departure and closes it (through its nanny, if any). */
  closeWorker(address: string, reason: string): Promise<void>;
}

export interface RetireReply {
  /** Retired workers, by address, as they were described before leaving. */
  retired: Record<string, WorkerSummary>;
  /** Workers left running, by address, with the reason. */
  notRetired: Record<string, string>;
}

const log = childLogger('retirement');
/** How often to look again while retiring workers still run tasks. */
const POLL_MS = 20;
const DEFAULT_TIMEOUT_MS = 120_000;

export interface RetirementExtension extends SchedulerExtension {
  /** Addresses being retired right now. */
  readonly retiring: ReadonlySet<string>;
  retire(addresses: readonly string[], timeoutMs?: number): Promise<RetireReply>;
}

export function createRetirementExtension(host: RetirementHost): RetirementExtension {
  const retiring = new Set<string>();
  let closed = false;

  async function retire(addresses: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RetireReply> {
    const reply: RetireReply = { retired: {}, notRetired: {} };
    const mine = new Set<string>();
    for (const address of new Set(addresses)) {
      if (retiring.has(address)) {
        reply.notRetired[address] = 'already being retired';
        continue;
      }
      if (!host.state.workers.has(address)) continue;
      mine.add(address);
      retiring.add(address);
      host.setWorkerStatus(address, 'closing');
    }
    const giveUp = (address: string, reason: string): void => {
      mine.delete(address);
      retiring.delete(address);
      reply.notRetired[address] = reason;
      if (host.state.workers.has(address)) host.setWorkerStatus(address, 'running');
      log.warn({ worker: address, reason }, `could not retire worker ${address}: ${reason}`);
    };
    const deadline = Date.now() + timeoutMs;
    try {
      while (mine.size > 0) {
        if (closed) throw new DistributedError('the scheduler is closing');
        for (const address of mine) if (!host.state.workers.has(address)) mine.delete(address);
        const plan = planRetirement(host.state, retiring);
        for (const address of plan.stranded) if (mine.has(address)) giveUp(address, 'unique data could not be moved: no other running worker');
        for (const address of plan.hostsActors) if (mine.has(address)) giveUp(address, 'it hosts an actor, which cannot move to another worker');
        for (const address of [...mine]) {
          if (!readyToLeave(host.state, address, retiring)) continue;
          const summary = host.state.workerSummaries()[address];
          mine.delete(address);
          retiring.delete(address);
          await host.closeWorker(address, 'retired');
          if (summary !== undefined) reply.retired[address] = summary;
        }
        if (mine.size === 0) break;
        if (Date.now() > deadline) {
          for (const address of [...mine]) giveUp(address, `still running tasks or holding unique data after ${timeoutMs} ms`);
          throw new TimeoutError(`retire_workers: gave up after ${timeoutMs} ms`);
        }
        const mineOnly = plan.acquisitions.filter((entry) => Object.values(entry.whoHas).some((from) => from.some((a) => mine.has(a))));
        if (mineOnly.length > 0) await host.acquire(mineOnly);
        else await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (error) {
      for (const address of [...mine]) giveUp(address, error instanceof Error ? error.message : String(error));
      throw error;
    }
    return reply;
  }

  const handlers: Record<string, ExtensionHandler> = {
    retire_workers(msg: OpDict) {
      const timeoutMs = msg.timeout === undefined || msg.timeout === null ? undefined : parseDuration(msg.timeout as number | string);
      return retire(selectRetiring(host.state, msg, retiring), timeoutMs);
    },
    workers_to_close(msg: OpDict) {
      const n = countField(msg, 'n') ?? host.state.running.length;
      const minimum = countField(msg, 'minimum') ?? 0;
      return workersToClose(host.state, { n, minimum, exclude: retiring });
    },
  };

  return {
    handlers,
    retiring,
    retire,
    close(): void {
      closed = true;
    },
  };
}

/** `workers` (addresses, names or hosts) or else `n` idle workers (fewest bytes first). */
function selectRetiring(state: SchedulerState, msg: OpDict, retiring: ReadonlySet<string>): string[] {
  const workers = msg.workers;
  if (workers !== undefined && workers !== null) {
    if (!Array.isArray(workers) || workers.some((w) => typeof w !== 'string')) {
      throw new DistributedError('retire_workers: workers must be an array of addresses or names');
    }
    return state.selectWorkers(workers as string[]).map((ws) => ws.address);
  }
  const n = countField(msg, 'n');
  if (n === undefined) throw new DistributedError('retire_workers: give workers or n');
  return workersToClose(state, { n, minimum: countField(msg, 'minimum') ?? 0, exclude: retiring });
}

function countField(msg: OpDict, field: string): number | undefined {
  const value = msg[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new DistributedError(`${String(msg.op)}: ${field} must be a non-negative integer`);
  }
  return value;
}
