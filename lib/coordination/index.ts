/** Coordination primitives: client-side classes and the scheduler extension behind them. */
export { Lock } from './lock.js';
export { Semaphore, type SemaphoreOptions } from './semaphore.js';
export { Event } from './event.js';
export { Queue, type QueueOptions, type QueueGetOptions } from './queue.js';
export { Variable } from './variable.js';
export type { PrimitiveOptions, TimeoutOption } from './primitive-handle.js';
export { CoordinationError, NoClientError } from './errors.js';
export type { CoordinationClient } from './coordination-client.js';
export {
  setDefaultClientResolver,
  setClientAdapter,
  resolveClient,
  type DefaultClientResolver,
  type ClientAdapter,
} from './default-client.js';
export { coordinationClientOf, installClientAdapter } from './client-adapter.js';
export {
  createCoordinationExtension,
  type CoordinationExtension,
  type CoordinationExtensionOptions,
  type CoordinationHost,
  type SchedulerExtension,
} from './extension.js';
