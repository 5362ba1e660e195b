/**
 * Running a long-lived lifecycle machine (worker, nanny) as a real xstate
 * actor. Two xstate defaults are unsafe for us: an actor without an error
 * observer rethrows action errors asynchronously (crashing the process), and an
 * event the current state does not handle is silently dropped. `startLifecycle`
 * always attaches an error observer; `sendStrict` refuses illegal events.
 */
import {
  createActor,
  type Actor,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type EventFromLogic,
  type InputFrom,
  type SnapshotFrom,
} from 'xstate';
import { childLogger } from '../lib/logging.js';
import { InvalidTransitionError } from './transition-table.js';

export interface LifecycleOptions<M extends AnyStateMachine> {
  input?: InputFrom<M>;
  /** Called after each change of state value (not for context-only updates). */
  onTransition?: (snapshot: SnapshotFrom<M>, previous: string) => void;
  /** Called when an action throws; the actor is then stopped. Default: log at error level. */
  onError?: (error: unknown) => void;
}

export function startLifecycle<M extends AnyStateMachine>(machine: M, options: LifecycleOptions<M> = {}): Actor<M> {
  const actor = createActor(machine, { input: options.input } as Parameters<typeof createActor<M>>[1]);
  let previous = lifecycleState(actor);
  const onError =
    options.onError ??
    ((error: unknown) => childLogger('lifecycle', { machine: machine.id }).error({ err: error }, 'lifecycle actor failed'));
  actor.subscribe({
    next: (snapshot) => {
      const value = String((snapshot as AnyMachineSnapshot).value);
      if (value === previous) return;
      const from = previous;
      previous = value;
      options.onTransition?.(snapshot, from);
    },
    error: onError,
  });
  actor.start();
  return actor;
}

/** The current state of a flat lifecycle machine. */
export function lifecycleState<M extends AnyStateMachine>(actor: Actor<M>): string {
  return String(machineSnapshot(actor).value);
}

/** Sends `event` if the current state accepts it; throws InvalidTransitionError otherwise. */
export function sendStrict<M extends AnyStateMachine>(actor: Actor<M>, event: EventFromLogic<M>): void {
  const snapshot = machineSnapshot(actor);
  if (!snapshot.can(event)) {
    throw new InvalidTransitionError(machineIdOf(actor), String(snapshot.value), `(event ${event.type})`);
  }
  actor.send(event);
}

function machineSnapshot<M extends AnyStateMachine>(actor: Actor<M>): AnyMachineSnapshot {
  return actor.getSnapshot() as AnyMachineSnapshot;
}

function machineIdOf(actor: Actor<AnyStateMachine>): string {
  return actor.logic.id;
}
