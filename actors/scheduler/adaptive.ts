/**
 * The scheduler extension a cluster's Adaptive loop asks each interval
 * (`adaptive_target`): how many workers the work in sight wants, and every
 * worker with its load, so the cluster can tell which ones sat idle. The
 * numbers come from the pure policy in lib/scheduler/adaptive.ts.
 */
import { DistributedError } from '../../lib/errors.js';
import type { OpDict } from '../../lib/protocol/messages.js';
import { adaptiveInputs, adaptiveTarget, type AdaptiveInputs, type ObservedWorker } from '../../lib/scheduler/adaptive.js';
import type { SchedulerState } from '../../lib/scheduler/state.js';
import { parseDuration } from '../../lib/units.js';
import type { ExtensionHandler, SchedulerExtension } from '../../lib/coordination/extension.js';

export interface AdaptiveHost {
  readonly state: SchedulerState;
  /** Workers being retired: not offered as idle, not counted as capacity. */
  readonly retiring: ReadonlySet<string>;
}

export interface AdaptiveTargetReply {
  target: number;
  /** Running workers (not retiring), with their load. */
  workers: ObservedWorker[];
  inputs: AdaptiveInputs;
}

const DEFAULT_TARGET_DURATION_MS = 5000;

export function createAdaptiveExtension(host: AdaptiveHost): SchedulerExtension {
  const handlers: Record<string, ExtensionHandler> = {
    adaptive_target(msg: OpDict): AdaptiveTargetReply {
      const targetDurationMs = msg.targetDuration === undefined || msg.targetDuration === null
        ? DEFAULT_TARGET_DURATION_MS
        : parseDuration(msg.targetDuration as number | string);
      const threadsPerWorker = msg.threadsPerWorker ?? 1;
      if (typeof threadsPerWorker !== 'number' || !(threadsPerWorker >= 1)) {
        throw new DistributedError('adaptive_target: threadsPerWorker must be a number >= 1');
      }
      const inputs = adaptiveInputs(host.state);
      const workers: ObservedWorker[] = [];
      for (const ws of host.state.running) {
        if (ws.status !== 'running' || host.retiring.has(ws.address)) continue;
        workers.push({ address: ws.address, processing: ws.processing.size, nbytes: ws.nbytes });
      }
      return { target: adaptiveTarget(inputs, { targetDurationMs, threadsPerWorker }), workers, inputs };
    },
  };
  return { handlers };
}
