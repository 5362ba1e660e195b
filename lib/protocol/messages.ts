/**
 * Every op-dict that crosses an actor boundary, in one place.
 *
 * docs/protocol.md describes the same catalogue for humans; keep both true.
 * Field names follow dask.distributed where it has an equivalent, with
 * JavaScript spelling (camelCase) for fields that are ours alone.
 *
 * Values that belong to users never appear here as live JavaScript objects:
 * they travel as `Blob`s (msgpackr-encoded bytes, see lib/protocol/values.ts),
 * so the scheduler never decodes user data or user functions.
 */

import type { FrameParts } from './out-of-band.js';

/** Encoded user value: the bytes of `encodeValue(v)`. */
export type Blob = Uint8Array;

/**
 * A value as workers hold it and hand it on: a Blob, or — a large binary
 * scattered in this process — `encodeValueParts(v)`: the blob's 8-byte
 * header and the caller's own bytes, kept by reference (not copied). Over a
 * socket those parts leave as one frame and arrive as the joined Blob; posted
 * to another thread they are joined into shared memory once (FrameParts.shared).
 */
export type HeldBlob = Blob | FrameParts;

/** How a task's function reaches a worker. */
export type FunctionRef =
  | { kind: 'source'; source: string; name: string }
  | { kind: 'global'; path: string; name: string }
  | { kind: 'module'; url: string; exportName: string; name: string };

/** Opaque to the scheduler: what a worker needs to run a task. */
export interface RunSpec {
  fn: FunctionRef;
  /** encodeValue([...args]) where dependencies appear as DependencyRef placeholders. */
  args: Blob;
  /** Set when the task creates an actor instance rather than computing a value. */
  actor?: boolean;
}

/** A task error as it travels: enough to rebuild an Error of the same name. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable properties that survived encoding (e.g. `code`). */
  props?: Record<string, unknown>;
  cause?: SerializedError;
}

export interface Restrictions {
  /** addresses, hostnames or worker names */
  workers?: string[];
  allowOtherWorkers?: boolean;
  resources?: Record<string, number>;
}

export interface GraphTask {
  key: string;
  /** Keys this task reads. Every one is either in this message or already known to the scheduler. */
  dependencies: string[];
  /** Absent for keys the client only refers to (already known). */
  runSpec?: RunSpec;
  restrictions?: Restrictions;
  retries?: number;
  /** User priority: higher runs first. */
  priority?: number;
}

export type WorkerStatus = 'running' | 'paused' | 'closing' | 'closed';

/* ------------------------------------------------------------------ */
/* Replies to RPCs                                                      */
/* ------------------------------------------------------------------ */

export interface ReplyOk<T = unknown> { op: 'reply'; id: number; status: 'OK'; result: T }
export interface ReplyError { op: 'reply'; id: number; status: 'error'; error: SerializedError }
export type Reply = ReplyOk | ReplyError;

/* ------------------------------------------------------------------ */
/* client -> scheduler                                                   */
/* ------------------------------------------------------------------ */

export interface RegisterClientMsg {
  op: 'register-client';
  client: string;
  name?: string;
  /** Coming back after losing the scheduler: the scheduler id it had, and how long and how often it tried (the recovery report). */
  reconnect?: boolean;
  scheduler?: string | null;
  away?: { retries: number; awayMs: number };
  /** How long (ms) the client will try to come back if the connection drops: the scheduler's grace for it. */
  reconnectTimeout?: number;
  /** A client living in a task on this worker: released once the worker is gone. */
  worker?: string;
}
export interface UpdateGraphMsg {
  op: 'update-graph';
  client: string;
  tasks: GraphTask[];
  /** Keys this client wants (holds futures for). */
  keys: string[];
  stimulusId?: string;
}
export interface ClientDesiresKeysMsg { op: 'client-desires-keys'; client: string; keys: string[] }
export interface ClientReleasesKeysMsg { op: 'client-releases-keys'; client: string; keys: string[] }
export interface CancelKeysMsg { op: 'cancel-keys'; client: string; keys: string[]; force?: boolean }
export interface CloseClientMsg { op: 'close-client'; client: string }
/** RPC: fetch values. Reply: GatherReply */
export interface GatherMsg { op: 'gather'; keys: string[]; direct?: boolean }
export interface GatherReply {
  data: Record<string, HeldBlob>;
  /** Keys the scheduler does not know, or whose value no holder gave. */
  missing?: string[];
  /** Asked with `direct`: large values for the client to fetch itself, with the TCP workers holding each. */
  direct?: Record<string, string[]>;
}
/** RPC: place client data on workers. Reply: { keys: string[] } */
export interface ScatterMsg {
  op: 'scatter';
  client: string;
  data: Record<string, HeldBlob>;
  workers?: string[];
  broadcast?: boolean;
}
/** RPC: where a client scattering large values itself should put them. Reply: { plan: Record<address, keys> } */
export interface ScatterPlanMsg { op: 'scatter-plan'; keys: string[]; workers?: string[]; broadcast?: boolean }
/** RPC: a client placed these values on these workers itself (they are in memory there, wanted by it). Reply: { keys } */
export interface ScatterPlacedMsg { op: 'scatter-placed'; client: string; placed: Array<{ key: string; nbytes: number; workers: string[] }> }
/** RPC: the task-stream records whose last phase ended in [start, stop] (ms since the epoch, or a duration ago). Reply: TaskStreamRecord[] */
export interface GetTaskStreamMsg { op: 'get-task-stream'; start?: number | string | null; stop?: number | string | null }
export interface WhoHasMsg { op: 'who_has'; keys?: string[] }
export interface HasWhatMsg { op: 'has_what'; workers?: string[] }
export interface NcoresMsg { op: 'ncores'; workers?: string[] }
export interface IdentityMsg { op: 'identity' }
export interface RetryMsg { op: 'retry'; client: string; keys: string[] }
/** RPC: run a function on workers out of band. Reply: Record<address, { ok, value | error }> */
export interface BroadcastRunMsg { op: 'broadcast-run'; fn: FunctionRef; args: Blob; workers?: string[] }
/** RPC: resolves once at least `n` workers are registered; TimeoutError after `timeout` (ms). */
export interface WaitForWorkersMsg { op: 'wait_for_workers'; n: number; timeout?: number }
/** RPC: name a value (and hold `keys` for pseudo-client `published-<name>`). Error if it exists and !override. */
export interface PublishPutMsg { op: 'publish_put'; client: string; name: string; keys: string[]; data: Blob; override?: boolean }
/** RPC. Reply: { keys, data }; error if there is no such dataset. */
export interface PublishGetMsg { op: 'publish_get'; name: string }
/** RPC. Reply: the dataset names. */
export interface PublishListMsg { op: 'publish_list' }
/** RPC: unpublish (its keys are released); error if there is no such dataset. */
export interface PublishDeleteMsg { op: 'publish_delete'; name: string }
/** RPC: tell every worker to close, then close the scheduler (client.shutdown()). */
export interface TerminateMsg { op: 'terminate' }
/**
 * RPC (client.restart()): cancel every client's futures (clients get `restart`), forget all tasks,
 * restart every worker through its nanny (workers without one are closed) and resolve once as many
 * workers as before are registered. Reply: { status: 'OK', workers: number }; TimeoutError after `timeout` (ms).
 */
export interface RestartMsg { op: 'restart'; timeout?: number }
/** RPC: keep `data` (a module file) and give it to every worker, now and when one joins. Reply: { status: 'OK', workers: string[] } */
export interface UploadFileMsg { op: 'upload_file'; filename: string; data: Blob }
/** RPC: copy each key to `n` workers (default: all of `workers`, default every worker). Reply: { status: 'OK' } */
export interface ReplicateMsg { op: 'replicate'; keys: string[]; n?: number; workers?: string[] }
/** RPC: move data so the workers (default all) hold about equal bytes of `keys` (default all). Reply: { status: 'OK', moved: number } */
export interface RebalanceMsg { op: 'rebalance'; keys?: string[]; workers?: string[] }
/** RPC (client.story, and the scheduler asking each worker): what that side remembers of `key`. Reply: StoryRecord[] */
export interface StoryMsg { op: 'story'; key: string }
/**
 * One line of a key's story (dask's `story`): a stimulus that named the key
 * (`stimulus` is what arrived) or one of its transitions (`start` -> `finish`).
 * `where` is 'scheduler' or a worker's address; `ts` is wall-clock ms there.
 */
export interface StoryRecord {
  key: string;
  where: string;
  stimulusId: string;
  ts: number;
  start?: string;
  finish?: string;
  stimulus?: string;
}

/* ------------------------------------------------------------------ */
/* scheduler -> client                                                   */
/* ------------------------------------------------------------------ */

export interface KeyInMemoryMsg {
  op: 'key-in-memory';
  key: string;
  type?: string;
  nbytes?: number;
  /** The encoded value when it is small (lib/protocol/inline-results.ts); otherwise fetch it with `gather`. */
  value?: Blob;
}
export interface TaskErredToClientMsg { op: 'task-erred'; key: string; exception: SerializedError }
export interface LostDataMsg { op: 'lost-data'; key: string }
export interface CancelledKeysMsg { op: 'cancelled-keys'; keys: string[]; reason?: string }
export interface TaskRetriedMsg { op: 'task-retried'; key: string }
export interface RestartToClientMsg { op: 'restart' }
/** A structured event on a topic the client subscribed to (`time`: ms since the epoch). */
export interface EventToClientMsg { op: 'event'; topic: string; time: number; msg: unknown }

/* ------------------------------------------------------------------ */
/* worker <-> scheduler                                                  */
/* ------------------------------------------------------------------ */

export interface RegisterWorkerMsg {
  op: 'register-worker';
  address: string;
  name: string;
  nthreads: number;
  resources?: Record<string, number>;
  memoryLimit?: number;
  pid?: number;
  nanny?: string;
  /** Host for `workers=` restrictions (default: the address's host; 127.0.0.1 for inproc://). */
  host?: string;
  /** Keys already in memory on this worker (re-registration). */
  keys?: string[];
  /** With `keys` after a scheduler loss: their sizes and type names. */
  nbytes?: Record<string, number>;
  types?: Record<string, string>;
  /** After a scheduler loss: failed attempts before this one and ms without a scheduler (for the recovery report). */
  away?: { retries: number; awayMs: number };
  /** After a scheduler loss: the worker plugins it runs (a client restoring them does not set them up here again). */
  plugins?: string[];
}
/** Values a worker holds that the scheduler has not heard of (a task the previous scheduler started finished). */
export interface HeldKeysMsg { op: 'held-keys'; keys: string[]; nbytes: Record<string, number>; types: Record<string, string> }
export interface HeartbeatWorkerMsg { op: 'heartbeat_worker'; address: string; metrics?: Record<string, number> }
/** Memory figures a worker with a memory limit sends in its heartbeats' `metrics`. */
export type WorkerMemoryMetrics = {
  /** Bytes of the values it holds in RAM. */
  managedBytes: number;
  /** Bytes (and count) of the values it moved to disk. */
  spilledBytes: number;
  spilledKeys: number;
  /** Process memory counted against the limit: resident bytes beyond the worker's baseline at start (lib/worker/process-memory.ts). */
  processBytes: number;
};
export interface UnregisterMsg { op: 'unregister'; address: string }
/** The scheduler's answer to register-worker. */
export interface RegisterWorkerReply {
  status: 'OK';
  /** How often (ms) the worker should send heartbeat_worker. */
  heartbeatInterval?: number;
}

export interface ComputeTaskMsg {
  op: 'compute-task';
  key: string;
  runId: number;
  runSpec: RunSpec;
  /** For each dependency: the workers holding it. */
  whoHas: Record<string, string[]>;
  nbytes: Record<string, number>;
  priority: number[];
  resources?: Record<string, number>;
  stimulusId: string;
}
export interface FreeKeysMsg { op: 'free-keys'; keys: string[]; stimulusId: string }
export interface CancelComputeMsg { op: 'cancel-compute'; key: string; stimulusId: string }
export interface AcquireReplicasMsg { op: 'acquire-replicas'; whoHas: Record<string, string[]>; nbytes: Record<string, number>; stimulusId: string }
export interface RemoveReplicasMsg { op: 'remove-replicas'; keys: string[]; stimulusId: string }
export interface StealRequestMsg { op: 'steal-request'; key: string; stimulusId: string }
export interface CloseWorkerMsg { op: 'close'; reason?: string }

/** One phase of a task on a worker, wall-clock ms since the epoch (the task stream). */
export interface StartStop {
  action: 'compute' | 'transfer' | 'disk-read' | 'disk-write';
  start: number;
  stop: number;
  /** For transfers: the worker the data came from. */
  source?: string;
}
/** One entry of the scheduler's task stream (client.getTaskStream). */
export interface TaskStreamRecord {
  key: string;
  worker: string;
  /** The pool thread (threadId) that ran it; null for transfers (they belong to the worker, not a thread). */
  thread: number | null;
  status: 'OK' | 'error';
  startstops: StartStop[];
  nbytes?: number;
}
export interface TaskFinishedMsg {
  op: 'task-finished';
  key: string;
  runId: number;
  nbytes: number;
  type: string;
  /** milliseconds spent executing, for per-prefix duration estimates */
  duration: number;
  stimulusId: string;
  /** The encoded result when it is small (lib/protocol/inline-results.ts), for the scheduler to pass on to clients. */
  value?: Blob;
  /** The pool thread that ran it (its threadId), and when: for the task stream. */
  thread?: number;
  startstops?: StartStop[];
}
export interface TaskErredFromWorkerMsg {
  op: 'task-erred';
  key: string;
  runId: number;
  exception: SerializedError;
  stimulusId: string;
  thread?: number;
  startstops?: StartStop[];
}
export interface ReleaseWorkerDataMsg { op: 'release-worker-data'; key: string; stimulusId: string }
/** `transfer`: the fetch that brought the keys (start/stop, wall-clock ms) and its bytes, for the task stream. */
export interface AddKeysMsg { op: 'add-keys'; keys: string[]; stimulusId: string; transfer?: StartStop & { nbytes: number } }
export interface LongRunningMsg { op: 'long-running'; key: string; runId: number; stimulusId: string }
export interface RescheduleMsg { op: 'reschedule'; key: string; stimulusId: string }
export interface StealResponseMsg { op: 'steal-response'; key: string; state: string | null; stimulusId: string }
export interface WorkerStatusChangeMsg { op: 'worker-status-change'; status: WorkerStatus; stimulusId: string }
export interface MissingDataMsg { op: 'missing-data'; key: string; worker: string; stimulusId: string }

/* ------------------------------------------------------------------ */
/* worker RPCs (from peers, the scheduler or clients)                    */
/* ------------------------------------------------------------------ */

/** Reply: GetDataReply */
export interface GetDataMsg { op: 'get_data'; keys: string[]; who?: string }
/** A worker's answer to get_data: the values it holds of the keys asked, or `busy` (ask again later). */
export type GetDataReply = { status: 'OK'; data: Record<string, HeldBlob> } | { status: 'busy'; data?: undefined };
/** Reply: { nbytes: Record<key, number> } */
export interface UpdateDataMsg { op: 'update_data'; data: Record<string, HeldBlob> }
/** Reply: RunReply */
export interface RunMsg { op: 'run'; fn: FunctionRef; args: Blob }
/** A function run out of band on a worker (`run`; per worker in `broadcast-run`): its encoded result or its error. */
export type RunReply = { ok: true; value: Blob } | { ok: false; error: SerializedError };
/** Call a method of the actor instance `key` held here. `args` encodes the argument array. Reply: Blob (the encoded result); the method's error as an error reply. */
export interface ActorExecuteMsg { op: 'actor_execute'; key: string; method: string; args: Blob }
/** Read an attribute of the actor instance `key` held here. Reply: Blob (the encoded value). */
export interface ActorAttributeMsg { op: 'actor_attribute'; key: string; name: string }

/* ------------------------------------------------------------------ */
/* coordination primitives (client -> scheduler RPCs)                   */
/* ------------------------------------------------------------------ */
/*
 * `holder` is the calling client's id: leases and parked requests belong to
 * it and end when that client is gone. Timeouts are milliseconds (the client
 * parses unit strings); absent = wait forever, 0 = do not wait. A request
 * that times out on the scheduler answers `false` / `{ status: 'timeout' }`.
 */

/** What a Queue or Variable holds: a user value, or the key of a future it keeps alive. */
export type CoordinationItem =
  | { type: 'value'; value: Blob }
  | { type: 'future'; key: string };

/** Reply: { leaseTimeout: number | null } (ms; null = leases never expire) */
export interface SemaphoreRegisterMsg { op: 'semaphore_register'; name: string; maxLeases: number }
/** Reply: { acquired: boolean, leaseTimeout: number | null }; false only on timeout. */
export interface SemaphoreAcquireMsg {
  op: 'semaphore_acquire';
  name: string;
  maxLeases: number;
  leaseId: string;
  holder: string;
  timeout?: number;
}
/** Reply: { released: boolean } (false: the lease had expired). Error "Released too often" for a lease never granted. */
export interface SemaphoreReleaseMsg { op: 'semaphore_release'; name: string; leaseId: string }
/** Reply: { resurrected: string[] } (expired leases taken back: the semaphore may be oversubscribed) */
export interface SemaphoreRefreshLeasesMsg { op: 'semaphore_refresh_leases'; name: string; leaseIds: string[]; holder: string }
/** Reply: number of leases held */
export interface SemaphoreValueMsg { op: 'semaphore_value'; name: string }
/** Reply: boolean (true: the event is set; false: timed out) */
export interface EventWaitMsg { op: 'event_wait'; name: string; holder: string; timeout?: number }
export interface EventSetMsg { op: 'event_set'; name: string }
export interface EventClearMsg { op: 'event_clear'; name: string }
/** Reply: boolean */
export interface EventIsSetMsg { op: 'event_is_set'; name: string }
/** maxsize 0 = unbounded; an absent maxsize adopts the existing queue's. */
export interface QueueCreateMsg { op: 'queue_create'; name: string; maxsize?: number }
/** Reply: { status: 'OK' } | { status: 'timeout' } (the queue stayed full) */
export interface QueuePutMsg {
  op: 'queue_put';
  name: string;
  maxsize?: number;
  holder: string;
  item: CoordinationItem;
  timeout?: number;
}
/**
 * Reply: { status: 'OK', items: CoordinationItem[] } | { status: 'timeout' }.
 * batch absent/false: one item; true: everything available now (never waits); n: exactly n.
 */
export interface QueueGetMsg {
  op: 'queue_get';
  name: string;
  maxsize?: number;
  holder: string;
  timeout?: number;
  batch?: boolean | number;
}
/** Reply: number */
export interface QueueQsizeMsg { op: 'queue_qsize'; name: string }
/** Reply: { status: 'OK' } */
export interface VariableSetMsg { op: 'variable_set'; name: string; holder: string; item: CoordinationItem }
/** Reply: { status: 'OK', item: CoordinationItem } | { status: 'timeout' } */
export interface VariableGetMsg { op: 'variable_get'; name: string; holder: string; timeout?: number }
export interface VariableDeleteMsg { op: 'variable_delete'; name: string }

export type CoordinationOps =
  | SemaphoreRegisterMsg | SemaphoreAcquireMsg | SemaphoreReleaseMsg | SemaphoreRefreshLeasesMsg
  | SemaphoreValueMsg | EventWaitMsg | EventSetMsg | EventClearMsg | EventIsSetMsg
  | QueueCreateMsg | QueuePutMsg | QueueGetMsg | QueueQsizeMsg
  | VariableSetMsg | VariableGetMsg | VariableDeleteMsg;

/* ------------------------------------------------------------------ */
/* nanny <-> scheduler                                                   */
/* ------------------------------------------------------------------ */

/** Nanny -> scheduler stream: the nanny killed its worker for using too much memory and is restarting it. */
export interface WorkerRestartMemoryMsg {
  op: 'worker-restart-memory';
  /** The worker's address (now gone). */
  worker: string;
  nanny: string;
  /** Resident bytes of the worker process when it was killed. */
  rss: number;
  /** Its memory limit in bytes. */
  limit: number;
  stimulusId: string;
}
/** Nanny RPC: kill the worker process and start a new one. Reply: { status: 'OK', address } (the new worker) */
export interface NannyRestartMsg { op: 'restart'; reason?: string }
/** Nanny RPC: stop the worker process (no new one until `restart`). Reply: { status: 'OK' } */
export interface NannyKillMsg { op: 'kill'; reason?: string }
/** Nanny RPC: close the worker (it unregisters) and then the nanny (client.shutdown()). Reply: { status: 'OK' } */
export interface NannyCloseMsg { op: 'close'; reason?: string }

export type ClientToScheduler =
  | RegisterClientMsg | UpdateGraphMsg | ClientDesiresKeysMsg | ClientReleasesKeysMsg
  | CancelKeysMsg | CloseClientMsg | GatherMsg | ScatterMsg | WhoHasMsg | HasWhatMsg
  | NcoresMsg | IdentityMsg | RetryMsg | BroadcastRunMsg | WaitForWorkersMsg | PublishPutMsg
  | PublishGetMsg | PublishListMsg | PublishDeleteMsg | TerminateMsg | RestartMsg | UploadFileMsg
  | ReplicateMsg | RebalanceMsg | ScatterPlanMsg | ScatterPlacedMsg | GetTaskStreamMsg | StoryMsg;
export type SchedulerToClient =
  | KeyInMemoryMsg | TaskErredToClientMsg | LostDataMsg | CancelledKeysMsg
  | TaskRetriedMsg | RestartToClientMsg | EventToClientMsg;
export type SchedulerToWorker =
  | ComputeTaskMsg | FreeKeysMsg | CancelComputeMsg | AcquireReplicasMsg
  | RemoveReplicasMsg | StealRequestMsg | CloseWorkerMsg | UploadFileMsg;
export type WorkerToScheduler =
  | RegisterWorkerMsg | HeldKeysMsg | HeartbeatWorkerMsg | UnregisterMsg | TaskFinishedMsg
  | TaskErredFromWorkerMsg | ReleaseWorkerDataMsg | AddKeysMsg | LongRunningMsg
  | RescheduleMsg | StealResponseMsg | WorkerStatusChangeMsg | MissingDataMsg;
export type WorkerRpc = GetDataMsg | UpdateDataMsg | RunMsg | ActorExecuteMsg | ActorAttributeMsg | StoryMsg;
export type NannyToScheduler = WorkerRestartMemoryMsg;
export type NannyRpc = NannyRestartMsg | NannyKillMsg | NannyCloseMsg | IdentityMsg;

/** Any op-dict: the shape every transport carries. */
export interface OpDict { op: string; [field: string]: unknown }

/** Every message named above, or any op-dict: what a peer may send or call with. */
export type Outgoing =
  | OpDict | ClientToScheduler | SchedulerToClient | SchedulerToWorker | WorkerToScheduler
  | WorkerRpc | NannyToScheduler | NannyRpc | CoordinationOps;

/* ------------------------------------------------------------------ */
/* Each actor's inbox: op -> [message, reply]                            */
/* ------------------------------------------------------------------ */
/*
 * One typed map per receiving actor (ops are named per receiver: `restart`
 * means one thing to the scheduler and another to a nanny). `void` marks a
 * stream message (no reply). Handlers declared through lib/comm/mailbox.ts
 * `inboxHandlers<Inbox>` get their op's message type and must return its
 * reply; callers name the reply as `ReplyOf<Inbox, op>`.
 */

/** What the scheduler receives, in its shell and in the extensions of actors/scheduler/ (each still checks the fields it relies on). */
export interface SchedulerInbox {
  'register-client': [RegisterClientMsg, { address: string; id: string; durable: boolean; dashboard?: string }];
  'update-graph': [UpdateGraphMsg, void];
  'client-desires-keys': [ClientDesiresKeysMsg, void];
  'client-releases-keys': [ClientReleasesKeysMsg, void];
  'cancel-keys': [CancelKeysMsg, 'OK'];
  retry: [RetryMsg, 'OK'];
  'close-client': [CloseClientMsg, void];
  who_has: [WhoHasMsg, Record<string, string[]>];
  has_what: [HasWhatMsg, Record<string, string[]>];
  ncores: [NcoresMsg, Record<string, number>];
  identity: [IdentityMsg, Record<string, unknown>];
  wait_for_workers: [WaitForWorkersMsg, void];
  'get-task-stream': [GetTaskStreamMsg, TaskStreamRecord[]];
  gather: [GatherMsg, GatherReply];
  scatter: [ScatterMsg, { keys: string[] }];
  'scatter-plan': [ScatterPlanMsg, { plan: Record<string, string[]> }];
  'scatter-placed': [ScatterPlacedMsg, { keys: string[] }];
  replicate: [ReplicateMsg, { status: 'OK' }];
  rebalance: [RebalanceMsg, { status: 'OK'; moved: number }];
  'broadcast-run': [BroadcastRunMsg, Record<string, RunReply>];
  upload_file: [UploadFileMsg, { status: 'OK'; workers: string[] }];
  publish_put: [PublishPutMsg, 'OK'];
  publish_get: [PublishGetMsg, { keys: string[]; data: Blob }];
  publish_list: [PublishListMsg, string[]];
  publish_delete: [PublishDeleteMsg, 'OK'];
  terminate: [TerminateMsg, 'OK'];
  restart: [RestartMsg, { status: 'OK'; workers: number }];
  'register-worker': [RegisterWorkerMsg, RegisterWorkerReply];
  'held-keys': [HeldKeysMsg, void];
  'task-finished': [TaskFinishedMsg, void];
  'task-erred': [TaskErredFromWorkerMsg, void];
  'missing-data': [MissingDataMsg, void];
  'long-running': [LongRunningMsg, void];
  'steal-response': [StealResponseMsg, void];
  reschedule: [RescheduleMsg, void];
  'release-worker-data': [ReleaseWorkerDataMsg, void];
  'add-keys': [AddKeysMsg, void];
  'worker-status-change': [WorkerStatusChangeMsg, void];
  unregister: [UnregisterMsg, void];
  heartbeat_worker: [HeartbeatWorkerMsg, { status: 'OK' }];
  'worker-restart-memory': [WorkerRestartMemoryMsg, void];
}

/** What a worker receives: the scheduler's instructions and the RPCs of peers, clients and the scheduler. */
export interface WorkerInbox {
  'compute-task': [ComputeTaskMsg, void];
  'free-keys': [FreeKeysMsg, void];
  'cancel-compute': [CancelComputeMsg, void];
  'acquire-replicas': [AcquireReplicasMsg, void];
  'remove-replicas': [RemoveReplicasMsg, void];
  'steal-request': [StealRequestMsg, void];
  close: [CloseWorkerMsg, void];
  get_data: [GetDataMsg, GetDataReply];
  update_data: [UpdateDataMsg, { nbytes: Record<string, number> }];
  run: [RunMsg, RunReply];
  actor_execute: [ActorExecuteMsg, Blob];
  actor_attribute: [ActorAttributeMsg, Blob];
  upload_file: [UploadFileMsg, { status: 'OK' }];
  story: [StoryMsg, StoryRecord[]];
}

/** What a client receives from its scheduler. */
export interface ClientInbox {
  'key-in-memory': [KeyInMemoryMsg, void];
  'task-erred': [TaskErredToClientMsg, void];
  'lost-data': [LostDataMsg, void];
  'cancelled-keys': [CancelledKeysMsg, void];
  'task-retried': [TaskRetriedMsg, void];
  restart: [RestartToClientMsg, void];
  event: [EventToClientMsg, void];
}

export type MessageOf<Inbox, Op extends keyof Inbox> = Inbox[Op] extends [infer M, unknown] ? M : never;
export type ReplyOf<Inbox, Op extends keyof Inbox> = Inbox[Op] extends [unknown, infer R] ? R : never;
