/** Errors of the coordination primitives (Lock, Semaphore, Event, Queue, Variable). */
import { DistributedError } from '../errors.js';
import { registerErrorClass } from '../protocol/error-classes.js';

/**
 * A primitive used against its rules: releasing a lock that is not held,
 * releasing a semaphore more often than acquired, registering one name with
 * two different `maxLeases`, a queue `batch` larger than its `maxsize`...
 *
 * @example
 * ```ts
 * await new Lock('free').release().catch((e) => e instanceof CoordinationError);   // not held
 * ```
 */
export class CoordinationError extends DistributedError {
  override name = 'CoordinationError';
}

/**
 * A primitive was used with no `client` option and no default client registered.
 *
 * @example
 * ```ts
 * await new Variable('x').get().catch((e) => e instanceof NoClientError);   // no client connected yet
 * ```
 */
export class NoClientError extends DistributedError {
  override name = 'NoClientError';
}

// Errors thrown on the scheduler come back to the client as the same classes.
registerErrorClass(CoordinationError);
registerErrorClass(NoClientError);
