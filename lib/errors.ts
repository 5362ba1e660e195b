/**
 * Error classes users and actors see. Each has a stable `name` (also its
 * class name) so it survives serialization: a task error crosses the wire as
 * { name, message, stack, props } and is rebuilt by lib/protocol/errors.ts.
 */

export class DistributedError extends Error {
  override name = 'DistributedError';
}

/** A future was cancelled (by the user, a restart, or lost scattered data). */
export class CancelledError extends DistributedError {
  override name = 'CancelledError';
  constructor(readonly key: string, readonly reason = 'cancelled') {
    super(`${key} was cancelled: ${reason}`);
  }
}

/** An operation did not finish within its timeout (milliseconds). */
export class TimeoutError extends DistributedError {
  override name = 'TimeoutError';
}

/** A task's worker died under it more often than `allowedFailures`. */
export class KilledWorker extends DistributedError {
  override name = 'KilledWorker';
  constructor(readonly key: string, readonly lastWorker: string, readonly allowedFailures: number) {
    super(
      `Attempted to run task ${key} on ${allowedFailures + 1} different workers, but all those workers died ` +
        `while running it. The last worker was ${lastWorker}.`,
    );
  }
}

/** Bytes on a connection that are not a valid message. The connection is closed. */
export class ProtocolError extends DistributedError {
  override name = 'ProtocolError';
}

/** A message larger than the configured limit was refused before buffering. */
export class MessageTooLargeError extends ProtocolError {
  override name = 'MessageTooLargeError';
}

/** The peer went away while a call was outstanding, or before a send. */
export class CommClosedError extends DistributedError {
  override name = 'CommClosedError';
}

/** An address could not be reached (within the connect timeout). */
export class ConnectError extends DistributedError {
  override name = 'ConnectError';
}

/** A value or function that cannot be sent to a worker. */
export class SerializationError extends DistributedError {
  override name = 'SerializationError';
}

/** A request named an op the receiving actor has no handler for. */
export class UnknownOpError extends DistributedError {
  override name = 'UnknownOpError';
}

/** A graph that cannot run: a cycle, or a dependency on a key nobody knows. */
export class InvalidGraphError extends DistributedError {
  override name = 'InvalidGraphError';
}

/** Data that existed only on a worker that is gone, and has no recipe to recompute it. */
export class LostDataError extends DistributedError {
  override name = 'LostDataError';
}

/** The worker holding an actor is gone (actors are never recomputed), or no longer holds it. */
export class ActorWorkerLostError extends DistributedError {
  override name = 'ActorWorkerLostError';
}

/**
 * The pool thread running a task ended under it: the task called
 * `process.exit()` (which ends only its thread), or an error escaped every
 * handler there. The pool starts a replacement thread.
 */
export class ThreadExitedError extends DistributedError {
  override name = 'ThreadExitedError';
}

/**
 * A ClusterPool run that was aborted: by its AbortSignal, by `destroy()`, or
 * because the pool was closing. Shaped like piscina's: name 'AbortError',
 * message 'The task has been aborted', `cause` the signal's reason.
 */
export class AbortError extends DistributedError {
  override name = 'AbortError';
  constructor(cause?: unknown) {
    super('The task has been aborted', { cause });
  }
}

/**
 * The scheduler refused to run code sent over the network
 * (`client.runOnScheduler` against a scheduler started without
 * `--allow-run-on-scheduler` / `allowRunOnScheduler`).
 */
export class NotAllowedError extends DistributedError {
  override name = 'NotAllowedError';
}

/**
 * TLS credentials that cannot be used: a file that cannot be read, text that
 * is not PEM, a key that does not match its certificate, a certificate that
 * has expired or that the CA did not sign. `file` names the culprit.
 */
export class SecurityError extends DistributedError {
  override name = 'SecurityError';
  constructor(message: string, readonly file?: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** `requireEncryption` is on and something tried to dial or listen on a plain (tcp://) address. */
export class EncryptionRequiredError extends DistributedError {
  override name = 'EncryptionRequiredError';
}

/** The TLS handshake failed: the peer's certificate (or ours, in its eyes) was refused. Not worth retrying. */
export class TlsHandshakeError extends ConnectError {
  override name = 'TlsHandshakeError';
}
