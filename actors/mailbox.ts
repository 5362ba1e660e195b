/**
 * CONTRACT STUB — the signatures below are fixed; the bodies are being written
 * (see the comm/actor work item). Everything else in the repo codes against
 * these names.
 *
 * A mailbox actor: every message from every attached comm (and from `post`)
 * enters one inbox and is handled in arrival order by the handler named by its
 * `op`. A message carrying a numeric `id` is a request: the handler's return
 * value (awaited if it is a promise) is sent back as
 * `{ op: 'reply', id, status: 'OK', result }`, and a thrown error as
 * `{ op: 'reply', id, status: 'error', error: SerializedError }`. A handler's
 * synchronous part runs to completion before the next message is handled; a
 * returned promise does not hold up the inbox. An exception in a handler never
 * stops the actor: it becomes an error reply, or a logged error for a stream
 * message. An unknown op is an UnknownOpError the same way.
 */
import type { Logger } from 'pino';
import type { Comm, ConnectOptions, Listener, ListenOptions } from '../lib/comm/comm.js';
import type { OpDict } from '../lib/protocol/messages.js';

export interface CallOptions {
  /** milliseconds or a string with a unit; default: no timeout, but a closed peer always rejects */
  timeout?: number | string;
}

/** One connection as the actor sees it. */
export interface Peer {
  /** Unique within the process. */
  readonly id: number;
  /** The remote address (Comm.peerAddress). */
  readonly address: string;
  readonly closed: boolean;
  /** What the actor decided this peer is (a worker, a client...). Free for the actor to set. */
  role?: unknown;
  /** Fire-and-forget stream message, coalesced with others written in the same tick. */
  send(msg: OpDict): void;
  /** Request/reply. Rejects with CommClosedError if the peer goes away, TimeoutError on timeout. */
  call<T = unknown>(msg: OpDict, options?: CallOptions): Promise<T>;
  close(): Promise<void>;
}

export type Handler = (msg: OpDict, from: Peer | undefined) => unknown;

export abstract class MailboxActor {
  readonly log: Logger;
  protected abstract readonly handlers: Readonly<Record<string, Handler>>;

  constructor(readonly actorName: string, options: { logger?: Logger } = {}) {
    void options;
    throw new Error('MailboxActor: not implemented yet');
  }

  /** Adopt a comm: its messages enter this actor's inbox. */
  attach(comm: Comm): Peer { void comm; throw new Error('not implemented'); }
  /** Dial an address (any registered transport) and attach the comm. */
  connect(address: string, options?: ConnectOptions): Promise<Peer> { void address; void options; throw new Error('not implemented'); }
  /** Listen on an address; every accepted comm is attached. */
  listen(address: string, options?: ListenOptions): Promise<Listener> { void address; void options; throw new Error('not implemented'); }
  /** Put a message in this actor's own inbox (timers, internal events); `from` is undefined. */
  post(msg: OpDict): void { void msg; throw new Error('not implemented'); }
  /** Called (through the inbox, in order) when a peer's comm closes. */
  protected onPeerClosed(peer: Peer, reason?: Error): void { void peer; void reason; }
  /** Closes listeners and every attached peer. */
  async close(): Promise<void> { throw new Error('not implemented'); }
}
