/**
 * Shape checks for the events WorkerState takes from other processes, made
 * before anything changes: a malformed event becomes an `event-failed`
 * instruction, never a half-applied change.
 */
import type { RunSpec } from '../protocol/messages.js';
import { FrameParts } from '../protocol/out-of-band.js';
import type { WorkerEvent } from './state-events.js';

function fail(event: { op: string }, what: string): never {
  throw new TypeError(`${event.op}: ${what}`);
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((k) => typeof k === 'string');
}

function isWhoHas(x: unknown): x is Record<string, string[]> {
  return typeof x === 'object' && x !== null && Object.values(x).every(isStringArray);
}

/** Shape checks for what arrives from other processes, before anything changes. */
export function validateEvent(event: WorkerEvent): void {
  if (typeof event !== 'object' || event === null) throw new TypeError(`WorkerState: event must be an object, got ${String(event)}`);
  switch (event.op) {
    case 'compute-task': {
      if (typeof event.key !== 'string') fail(event, 'key must be a string');
      if (typeof event.runId !== 'number') fail(event, `runId of ${event.key} must be a number`);
      const spec = event.runSpec as Partial<RunSpec> | undefined;
      if (typeof spec !== 'object' || spec === null || typeof spec.fn !== 'object' || !(spec.args instanceof Uint8Array)) {
        fail(event, `runSpec of ${event.key} must be { fn, args: bytes }`);
      }
      if (!isWhoHas(event.whoHas)) fail(event, `whoHas of ${event.key} must map keys to address arrays`);
      if (typeof event.nbytes !== 'object' || event.nbytes === null) fail(event, `nbytes of ${event.key} must be an object`);
      if (!Array.isArray(event.priority) || !event.priority.every((p) => typeof p === 'number')) {
        fail(event, `priority of ${event.key} must be an array of numbers`);
      }
      return;
    }
    case 'free-keys':
    case 'remove-replicas':
      if (!isStringArray(event.keys)) fail(event, 'keys must be an array of strings');
      return;
    case 'cancel-compute':
    case 'steal-request':
    case 'secede':
    case 'rejoin':
      if (typeof event.key !== 'string') fail(event, 'key must be a string');
      return;
    case 'acquire-replicas':
      if (!isWhoHas(event.whoHas)) fail(event, 'whoHas must map keys to address arrays');
      if (typeof event.nbytes !== 'object' || event.nbytes === null) fail(event, 'nbytes must be an object');
      return;
    case 'update-data':
      if (typeof event.data !== 'object' || event.data === null || !Object.values(event.data).every((v) => v instanceof Uint8Array || v instanceof FrameParts)) {
        fail(event, 'data must map keys to bytes');
      }
      return;
    default:
      return;
  }
}
