/**
 * Error classes users and actors see. Each has a stable `name` (also its
 * class name) so it survives serialization: a task error crosses the wire as
 * { name, message, stack, props } and is rebuilt by lib/protocol/errors.ts.
 */

/**
 * The base class of every error distributed-ts raises; each subclass has a stable `name`.
 *
 * @example
 * ```ts
 * try { await future.result(); } catch (e) { if (e instanceof DistributedError) console.error(e.name, e.message); }
 * ```
 */
export class DistributedError extends Error {
  override name = 'DistributedError';
}

/**
 * A future was cancelled (by the user, a restart, or lost scattered data).
 *
 * @example
 * ```ts
 * await future.cancel();
 * await future.result().catch((e) => e instanceof CancelledError);   // true
 * ```
 */
export class CancelledError extends DistributedError {
  override name = 'CancelledError';
  constructor(readonly key: string, readonly reason = 'cancelled') {
    super(`${key} was cancelled: ${reason}`);
  }
}

/**
 * An operation did not finish within its timeout (milliseconds).
 *
 * @example
 * ```ts
 * await future.result({ timeout: '1s' }).catch((e) => e instanceof TimeoutError);
 * ```
 */
export class TimeoutError extends DistributedError {
  override name = 'TimeoutError';
}

/**
 * A task's worker died under it more often than `allowedFailures`.
 *
 * @example
 * ```ts
 * try { await future.result(); } catch (e) { if (e instanceof KilledWorker) console.error(e.key, e.lastWorker); }
 * ```
 */
export class KilledWorker extends DistributedError {
  override name = 'KilledWorker';
  constructor(readonly key: string, readonly lastWorker: string, readonly allowedFailures: number) {
    super(
      `Attempted to run task ${key} on ${allowedFailures + 1} different workers, but all those workers died ` +
        `while running it. The last worker was ${lastWorker}.`,
    );
  }
}

/**
 * Bytes on a connection that are not a valid message. The connection is closed.
 *
 * @example
 * ```ts
 * comm.on('error', (e) => { if (e instanceof ProtocolError) console.error('bad bytes from a peer'); });
 * ```
 */
export class ProtocolError extends DistributedError {
  override name = 'ProtocolError';
}

/**
 * A message larger than the configured limit was refused before buffering.
 *
 * @example
 * ```ts
 * if (error instanceof MessageTooLargeError) console.error('send big data in chunks');
 * ```
 */
export class MessageTooLargeError extends ProtocolError {
  override name = 'MessageTooLargeError';
}

/**
 * The peer went away while a call was outstanding, or before a send.
 *
 * @example
 * ```ts
 * await client.gather(futures).catch((e) => e instanceof CommClosedError);   // the scheduler went away
 * ```
 */
export class CommClosedError extends DistributedError {
  override name = 'CommClosedError';
}

/**
 * An address could not be reached (within the connect timeout).
 *
 * @example
 * ```ts
 * await Client.connect('tcp://nowhere:8786', { timeout: '2s' }).catch((e) => e instanceof ConnectError);
 * ```
 */
export class ConnectError extends DistributedError {
  override name = 'ConnectError';
}

/**
 * A value or function that cannot be sent to a worker.
 *
 * @example
 * ```ts
 * try { client.submit(Math.max.bind(null), 1); } catch (e) { console.log(e instanceof SerializationError); }
 * ```
 */
export class SerializationError extends DistributedError {
  override name = 'SerializationError';
}

/**
 * A request named an op the receiving actor has no handler for.
 *
 * @example
 * ```ts
 * if (error instanceof UnknownOpError) console.error('mixed package versions in one cluster');
 * ```
 */
export class UnknownOpError extends DistributedError {
  override name = 'UnknownOpError';
}

/**
 * A graph that cannot run: a cycle, or a dependency on a key nobody knows.
 *
 * @example
 * ```ts
 * await client.get({ a: [f, 'b'], b: [f, 'a'] }, 'a').catch((e) => e instanceof InvalidGraphError);   // a cycle
 * ```
 */
export class InvalidGraphError extends DistributedError {
  override name = 'InvalidGraphError';
}

/**
 * Data that existed only on a worker that is gone, and has no recipe to recompute it.
 *
 * @example
 * ```ts
 * const [x] = await client.scatter([1]);
 * // ... x's only worker dies:
 * await x.result().catch((e) => e instanceof LostDataError);
 * ```
 */
export class LostDataError extends DistributedError {
  override name = 'LostDataError';
}

/**
 * The worker holding an actor is gone (actors are never recomputed), or no longer holds it.
 *
 * @example
 * ```ts
 * await counter.increment().catch((e) => e instanceof ActorWorkerLostError);   // its worker died
 * ```
 */
export class ActorWorkerLostError extends DistributedError {
  override name = 'ActorWorkerLostError';
}

/**
 * The pool thread running a task ended under it: the task called
 * `process.exit()` (which ends only its thread), or an error escaped every
 * handler there. The pool starts a replacement thread.
 *
 * @example
 * ```ts
 * await client.submit(() => process.exit(1)).result().catch((e) => e instanceof ThreadExitedError);
 * ```
 */
export class ThreadExitedError extends DistributedError {
  override name = 'ThreadExitedError';
}

/**
 * A ClusterPool run that was aborted: by its AbortSignal, by `destroy()`, or
 * because the pool was closing. Shaped like piscina's: name 'AbortError',
 * message 'The task has been aborted', `cause` the signal's reason.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const run = pool.run(task, { signal: controller.signal });
 * controller.abort();
 * await run.catch((e) => e.name === 'AbortError');   // true
 * ```
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
 *
 * @example
 * ```ts
 * await client.runOnScheduler(() => process.pid).catch((e) => e instanceof NotAllowedError);   // a remote scheduler refuses
 * ```
 */
export class NotAllowedError extends DistributedError {
  override name = 'NotAllowedError';
}

/**
 * TLS credentials that cannot be used: a file that cannot be read, text that
 * is not PEM, a key that does not match its certificate, a certificate that
 * has expired or that the CA did not sign. `file` names the culprit.
 *
 * @example
 * ```ts
 * new Security({ caFile: 'missing.pem', certFile, keyFile });   // throws SecurityError, e.file === 'missing.pem'
 * ```
 */
export class SecurityError extends DistributedError {
  override name = 'SecurityError';
  constructor(message: string, readonly file?: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * `requireEncryption` is on and something tried to dial or listen on a plain (tcp://) address.
 *
 * @example
 * ```ts
 * await Client.connect('tcp://host:8786', { security }).catch((e) => e instanceof EncryptionRequiredError);
 * ```
 */
export class EncryptionRequiredError extends DistributedError {
  override name = 'EncryptionRequiredError';
}

/**
 * The TLS handshake failed: the peer's certificate (or ours, in its eyes) was refused. Not worth retrying.
 *
 * @example
 * ```ts
 * await Client.connect('tls://host:8786', { security: otherCa }).catch((e) => e instanceof TlsHandshakeError);
 * ```
 */
export class TlsHandshakeError extends ConnectError {
  override name = 'TlsHandshakeError';
}
