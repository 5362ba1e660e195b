/**
 * `client.runOnScheduler(fn, ...args)`: runs a function in the scheduler's
 * process. The scheduler never evaluates code from the network unless told
 * to: a client in the scheduler's own process (an in-process comm, which only
 * exists between threads of one process) may always, a client over TCP only
 * when the scheduler was started with `allowRunOnScheduler` /
 * `dscheduler --allow-run-on-scheduler`. Anything else is a NotAllowedError.
 */
import { NotAllowedError, SerializationError } from '../lib/errors.js';
import type { Blob, FunctionRef, OpDict } from '../lib/protocol/messages.js';
import { decodeValue, encodeValue } from '../lib/protocol/values.js';
import { loadFunction } from '../lib/task-function.js';
import type { Peer } from '../lib/comm/mailbox.js';

/** Whether `from` may have the scheduler run code: in-process always, over the network only when allowed. */
export function mayRunOnScheduler(from: Peer | undefined, allowed: boolean): boolean {
  if (from === undefined) return false;
  return allowed || from.address.startsWith('inproc://');
}

/** Handles `run_on_scheduler { fn, args }`: the encoded result, or the function's error thrown back. */
export async function runOnScheduler(msg: OpDict, from: Peer | undefined, allowed: boolean): Promise<Blob> {
  if (!mayRunOnScheduler(from, allowed)) {
    throw new NotAllowedError(
      `this scheduler does not run code sent over the network (client ${from?.address ?? 'unknown'}); ` +
        'start it with --allow-run-on-scheduler (Scheduler.start({ allowRunOnScheduler: true })) to allow ' +
        'client.runOnScheduler, or connect from the program that runs the scheduler',
    );
  }
  if (!(msg.args instanceof Uint8Array)) throw new SerializationError('run_on_scheduler: args must be bytes');
  const fn = await loadFunction(msg.fn as FunctionRef);
  const args = decodeValue(msg.args);
  if (!Array.isArray(args)) throw new SerializationError('run_on_scheduler: arguments must encode an array');
  return encodeValue(await fn(...args));
}
