/** Errors of the coordination primitives (Lock, Semaphore, Event, Queue, Variable). */
import { DistributedError } from '../errors.js';
import { registerErrorClass } from '../protocol/error-classes.js';

/**
 * A primitive used against its rules: releasing a lock that is not held,
 * releasing a semaphore more often than acquired, registering one name with
 * two different `maxLeases`, a queue `batch` larger than its `maxsize`...
 */
export class CoordinationError extends DistributedError {
  override name = 'CoordinationError';
}

/** A primitive was used with no `client` option and no default client registered. */
export class NoClientError extends DistributedError {
  override name = 'NoClientError';
}

// Errors thrown on the scheduler come back to the client as the same classes.
registerErrorClass(CoordinationError);
registerErrorClass(NoClientError);
