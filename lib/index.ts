/** The package root: everything users import from 'distributed-ts'. */
import { LocalCluster } from '../actors/local-cluster.js';
import { installClientPort } from './client/client-port.js';
// Also keeps client-port's typing of getClient() (as Client) in the published declarations.
import './client/client-port.js';
import { installClientAdapter } from './coordination/client-adapter.js';

// Tasks get their worker's client through the task context's port; decoded
// actor handles become proxies; Client.connect() without a target starts a LocalCluster.
installClientPort({ startLocalCluster: () => LocalCluster.start({ processes: false }) });
// Lets Lock, Event, Semaphore, Queue and Variable use a Client (and find the default one).
installClientAdapter();

export {
  Client,
  type ConnectTarget,
  type ClientConnectOptions,
  type ScatterOptions,
  type PublishOptions,
  type SchedulerInfo,
  type TaskArg,
  type TaskGraph,
  type KeySpec,
  type TaskOptions,
  type ActorClient,
  type RetireWorkersOptions,
  type RetireWorkersResult,
} from './client/client.js';
export { Future, type WaitOptions, type CancelOptions } from './client/future.js';
export { delayed, Delayed } from './client/delayed.js';
export { asCompleted, AsCompleted, type AsCompletedOptions } from './client/as-completed.js';
export { wait, type ReturnWhen, type DoneAndNotDone } from './client/wait.js';
export { fireAndForget } from './client/fire-and-forget.js';
export { progress, type ProgressOptions } from './client/progress.js';
export type { Gathered } from './client/gather-shapes.js';
export { remote, type RemoteFunction } from './task-function.js';
export { getClient, getWorker, secede, rejoin, type WorkerInfo } from './task-context.js';
export { importUploaded } from './uploads.js';
export { actorHandle, type Actor } from './client/actor.js';
export {
  ClusterPool,
  type ClusterPoolOptions,
  type ClusterPoolRunOptions,
  type AbortSignalLike,
} from './client/cluster-pool.js';

export { LocalCluster, type LocalClusterOptions } from '../actors/local-cluster.js';
export { SSHCluster, type SSHClusterOptions, type SSHSchedulerOptions, type SSHWorkerOptions, type SSHSecurityOptions } from '../actors/ssh-cluster.js';
export { RemoteHostError, type SshConnectOptions } from './deploy/ssh-command.js';
export type { Cluster } from '../actors/cluster.js';
export type { Adaptive, AdaptOptions, AdaptiveStep } from '../actors/adaptive.js';
export { Scheduler } from '../actors/scheduler.js';
export type { SchedulerPlugin, SchedulerView, TransitionInfo, UpdateGraphInfo } from './scheduler/plugins.js';
export { ReadOnlyViewError } from './scheduler/read-only.js';
export type { TaskStreamRecord, StartStop, StoryRecord } from './protocol/messages.js';
export type { TopicHandler } from './client/topics.js';
export type { WorkerPlugin } from './worker/plugins.js';
export { Worker, type WorkerOptions } from '../actors/worker.js';
export { Nanny, type NannyOptions } from '../actors/nanny.js';
export { Security, type SecurityOptions } from './comm/security.js';

export {
  Lock,
  Event,
  Semaphore,
  Queue,
  Variable,
  type SemaphoreOptions,
  type QueueOptions,
  type PrimitiveOptions,
  CoordinationError,
  NoClientError,
} from './coordination/index.js';

export {
  DistributedError,
  CancelledError,
  TimeoutError,
  KilledWorker,
  ProtocolError,
  MessageTooLargeError,
  CommClosedError,
  ConnectError,
  SerializationError,
  UnknownOpError,
  InvalidGraphError,
  LostDataError,
  ActorWorkerLostError,
  ThreadExitedError,
  AbortError,
  NotAllowedError,
  SecurityError,
  EncryptionRequiredError,
  TlsHandshakeError,
} from './errors.js';
export { InvalidTransitionError } from '../machines/transition-table.js';
export { parseDuration, parseBytes } from './units.js';
