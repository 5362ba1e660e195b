/**
 * What goes into the pure WorkerState (events) and what comes out of it
 * (instructions). Scheduler messages are events as they arrive; the other
 * events report the end of something an instruction started (an execution,
 * a transfer, a back-off). The worker actor only translates between these
 * and I/O, as dask's BaseWorker does for its WorkerState.
 */
import type {
  AcquireReplicasMsg,
  Blob,
  HeldBlob,
  CancelComputeMsg,
  ComputeTaskMsg,
  FreeKeysMsg,
  RemoveReplicasMsg,
  SerializedError,
  StealRequestMsg,
  WorkerToScheduler,
} from '../protocol/messages.js';
import type { TaskOutcome, TaskToRun } from './execute.js';

export interface ExecuteSuccessEvent {
  op: 'execute-success';
  key: string;
  /** The `batchId` of the execute instruction that ran it. */
  batchId: number;
  value: Blob;
  type: string;
  nbytes: number;
  /** milliseconds */
  duration: number;
  /** Wall-clock start (ms since the epoch) and the thread that ran it, for the task stream. */
  start?: number;
  thread?: number;
}

export interface ExecuteFailureEvent {
  op: 'execute-failure';
  key: string;
  batchId: number;
  error: SerializedError;
  /** milliseconds */
  duration: number;
  start?: number;
  thread?: number;
}

/** A get_data answer. Requested keys absent from `data` are ones the peer does not hold. */
export interface GatherDepSuccessEvent {
  op: 'gather-dep-success';
  worker: string;
  keys: string[];
  data: Record<string, HeldBlob>;
  /** When the fetch started and ended, wall-clock ms (the task stream shows transfers). */
  start?: number;
  stop?: number;
}

/** The peer answered {status: 'busy'}: try again later. */
export interface GatherDepBusyEvent {
  op: 'gather-dep-busy';
  worker: string;
  keys: string[];
}

/** The peer could not be reached or the call failed: it is dropped as a holder of everything. */
export interface GatherDepFailureEvent {
  op: 'gather-dep-failure';
  worker: string;
  keys: string[];
  error: SerializedError;
}

/** The back-off after a busy peer is over. */
export interface RetryBusyWorkerEvent {
  op: 'retry-busy-worker';
  worker: string;
}

/** Data pushed to this worker (scatter, replicate): it is now held here. */
export interface UpdateDataEvent {
  op: 'update-data';
  data: Record<string, HeldBlob>;
  stimulusId?: string;
}

/** A running task gave its thread slot back (secede, or waiting on other tasks). */
export interface SecedeEvent { op: 'secede'; key: string; stimulusId?: string }
/** A seceded task wants a slot again; answered by a rejoin-granted instruction. */
export interface RejoinEvent { op: 'rejoin'; key: string }

export interface PauseEvent { op: 'pause'; stimulusId?: string }
export interface UnpauseEvent { op: 'unpause'; stimulusId?: string }

export type WorkerEvent =
  | ComputeTaskMsg
  | FreeKeysMsg
  | CancelComputeMsg
  | AcquireReplicasMsg
  | RemoveReplicasMsg
  | StealRequestMsg
  | ExecuteSuccessEvent
  | ExecuteFailureEvent
  | GatherDepSuccessEvent
  | GatherDepBusyEvent
  | GatherDepFailureEvent
  | RetryBusyWorkerEvent
  | UpdateDataEvent
  | PauseEvent
  | UnpauseEvent
  | SecedeEvent
  | RejoinEvent;

export interface SendToScheduler {
  kind: 'send-to-scheduler';
  msg: WorkerToScheduler;
}

/** Run these tasks, in this order, in one thread call; report each with the batchId. */
export interface Execute {
  kind: 'execute';
  batchId: number;
  batch: TaskToRun[];
}

/** One get_data call to `worker` for all of `keys`. */
export interface GatherDep {
  kind: 'gather-dep';
  worker: string;
  keys: string[];
  totalBytes: number;
}

/** Wait, then deliver a retry-busy-worker event for `worker`. */
export interface RetryBusyWorkerLater {
  kind: 'retry-busy-worker-later';
  worker: string;
  /** How many busy answers in a row this peer has given (for back-off). */
  attempt: number;
}

/** An event was malformed or illegal in the current state; nothing changed for it. Log it. */
export interface EventFailed {
  kind: 'event-failed';
  op: string;
  error: unknown;
}

/** The task asking to rejoin holds a slot again: let it continue. */
export interface RejoinGranted {
  kind: 'rejoin-granted';
  key: string;
}

export type Instruction = SendToScheduler | Execute | GatherDep | RetryBusyWorkerLater | EventFailed | RejoinGranted;

/** A pool thread's outcome of a task of execute batch `batchId`, as the event WorkerState takes. */
export function outcomeEvent(batchId: number, outcome: TaskOutcome): WorkerEvent {
  return outcome.ok
    ? { op: 'execute-success', key: outcome.key, batchId, value: outcome.value, type: outcome.type, nbytes: outcome.nbytes, duration: outcome.duration, start: outcome.start, thread: outcome.thread }
    : { op: 'execute-failure', key: outcome.key, batchId, error: outcome.error, duration: outcome.duration, start: outcome.start, thread: outcome.thread };
}
