/**
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
 *
 * Handlers are called with `this` bound to the actor. Replies to this actor's
 * own calls (Peer.call) do not enter the inbox: they settle the call's promise.
 * Once `close()` has begun, peers closing no longer reach `onPeerClosed`.
 */
import type { Logger } from 'pino';
import type { Comm, ConnectOptions, Listener, ListenOptions } from './comm.js';
import { connect, listen } from './registry.js';
import type { Security } from './security.js';
import { RpcChannel } from './rpc.js';
import { UnknownOpError } from '../errors.js';
import { childLogger } from '../logging.js';
import type { MessageOf, OpDict, Outgoing, ReplyOf } from '../protocol/messages.js';

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
  send(msg: Outgoing): void;
  /** Request/reply. Rejects with CommClosedError if the peer goes away, TimeoutError on timeout. */
  call<T = unknown>(msg: Outgoing, options?: CallOptions): Promise<T>;
  close(): Promise<void>;
  /** Keep the process alive while this connection is open (the default), or not. */
  ref(): void;
  unref(): void;
}

export type Handler = (msg: OpDict, from: Peer | undefined) => unknown;

/** Handlers typed by an inbox map (lib/protocol/messages.ts): each gets its op's message and returns its reply. */
export type InboxHandlers<Inbox> = {
  [Op in keyof Inbox & string]?: (msg: MessageOf<Inbox, Op>, from: Peer | undefined) => ReplyOf<Inbox, Op> | Promise<ReplyOf<Inbox, Op>>;
};

/**
 * The handlers as the inbox dispatches them. The one place an arriving
 * op-dict is taken to be its op's message: handlers still check the fields
 * they rely on, so a malformed message fails its handler, not the actor.
 */
export function inboxHandlers<Inbox>(handlers: InboxHandlers<Inbox>): Record<string, Handler> {
  return handlers as unknown as Record<string, Handler>;
}

let nextPeerId = 1;

class MailboxPeer implements Peer {
  readonly id = nextPeerId++;
  role?: unknown;
  readonly rpc: RpcChannel;

  constructor(comm: Comm, handlers: { onMessage: (msg: OpDict) => void; onClose: (reason?: Error) => void }) {
    this.rpc = new RpcChannel(comm, handlers);
  }

  get address(): string {
    return this.rpc.comm.peerAddress;
  }

  get closed(): boolean {
    return this.rpc.comm.closed;
  }

  send(msg: Outgoing): void {
    this.rpc.comm.write(msg as OpDict);
  }

  call<T = unknown>(msg: Outgoing, options?: CallOptions): Promise<T> {
    return this.rpc.call<T>(msg, options);
  }

  close(): Promise<void> {
    return this.rpc.comm.close();
  }

  ref(): void {
    this.rpc.comm.ref?.();
  }

  unref(): void {
    this.rpc.comm.unref?.();
  }
}

/** A queued inbox entry: a message, or (when `closed`) a peer's comm closing. */
interface InboxEntry {
  msg: OpDict | undefined;
  from: MailboxPeer | undefined;
  closedReason: Error | undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function';
}

export abstract class MailboxActor {
  readonly log: Logger;
  protected abstract readonly handlers: Readonly<Record<string, Handler>>;

  private readonly inbox: (InboxEntry | undefined)[] = [];
  private inboxHead = 0;
  private draining = false;
  private drainScheduled = false;
  private readonly attachedPeers = new Set<MailboxPeer>();
  private readonly listeners = new Set<Listener>();
  private closing: Promise<void> | undefined;
  private holdsProcess = true;

  /** The TLS credentials every connect and listen of this actor uses (and its requireEncryption). */
  protected security: Security | undefined;

  constructor(readonly actorName: string, options: { logger?: Logger; security?: Security | undefined } = {}) {
    this.log = options.logger ?? childLogger('actor', { actor: actorName });
    this.security = options.security;
  }

  /** The peers currently attached. */
  get peers(): ReadonlySet<Peer> {
    return this.attachedPeers;
  }

  /** True once `close()` has been called. */
  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** Adopt a comm: its messages enter this actor's inbox. */
  attach(comm: Comm): Peer {
    const peer: MailboxPeer = new MailboxPeer(comm, {
      onMessage: (msg) => this.deliver(msg, peer),
      onClose: (reason) => this.peerClosed(peer, reason),
    });
    if (this.closing !== undefined) {
      void comm.close();
      return peer;
    }
    if (!comm.closed) this.attachedPeers.add(peer);
    if (!this.holdsProcess) comm.unref?.();
    return peer;
  }

  /**
   * Whether this actor's connections (those open now and those to come) keep
   * the process alive: true by default. A cluster a Client started for itself
   * lets go, so a script that forgets `client.close()` still ends; the client
   * keeps the process alive only while it waits for something.
   */
  set keepsProcessAlive(keep: boolean) {
    this.holdsProcess = keep;
    for (const peer of this.attachedPeers) {
      if (keep) peer.ref();
      else peer.unref();
    }
  }

  get keepsProcessAlive(): boolean {
    return this.holdsProcess;
  }

  /** Dial an address (any registered transport) and attach the comm. */
  async connect(address: string, options?: ConnectOptions): Promise<Peer> {
    return this.attach(await connect(address, this.withSecurity(options ?? {})));
  }

  /** Listen on an address; every accepted comm is attached. */
  async listen(address: string, options?: ListenOptions): Promise<Listener> {
    const listener = await listen(address, (comm) => { this.attach(comm); }, this.withSecurity(options ?? {}));
    if (this.closing !== undefined) {
      await listener.close();
      return listener;
    }
    this.listeners.add(listener);
    return listener;
  }

  private withSecurity<T extends { security?: Security | undefined }>(options: T): T {
    return this.security === undefined || options.security !== undefined ? options : { ...options, security: this.security };
  }

  /** Put a message in this actor's own inbox (timers, internal events); `from` is undefined. */
  post(msg: OpDict): void {
    this.enqueue({ msg, from: undefined, closedReason: undefined });
  }

  /** Called (through the inbox, in order) when a peer's comm closes. */
  protected onPeerClosed(peer: Peer, reason?: Error): void { void peer; void reason; }

  /** Closes listeners and every attached peer. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const listeners = [...this.listeners];
      const peers = [...this.attachedPeers];
      this.listeners.clear();
      await Promise.all([...listeners.map((l) => l.close()), ...peers.map((p) => p.close())]);
    })();
    return this.closing;
  }

  private deliver(msg: OpDict, from: MailboxPeer): void {
    if (this.draining || this.inboxHead < this.inbox.length) {
      this.enqueue({ msg, from, closedReason: undefined });
      return;
    }
    // Fast path: nothing is waiting, so handle it now (plus whatever the handler posts).
    this.draining = true;
    this.dispatch(msg, from);
    this.drainInbox();
    this.draining = false;
  }

  private peerClosed(peer: MailboxPeer, reason: Error | undefined): void {
    this.attachedPeers.delete(peer);
    if (this.closing !== undefined) return;
    this.enqueue({ msg: undefined, from: peer, closedReason: reason });
  }

  private enqueue(entry: InboxEntry): void {
    this.inbox.push(entry);
    if (!this.draining && !this.drainScheduled) {
      this.drainScheduled = true;
      queueMicrotask(this.scheduledDrain);
    }
  }

  private readonly scheduledDrain = (): void => {
    this.drainScheduled = false;
    if (this.draining) return;
    this.draining = true;
    this.drainInbox();
    this.draining = false;
  };

  private drainInbox(): void {
    const inbox = this.inbox;
    while (this.inboxHead < inbox.length) {
      const entry = inbox[this.inboxHead]!;
      inbox[this.inboxHead++] = undefined;
      if (entry.msg !== undefined) this.dispatch(entry.msg, entry.from);
      else this.runPeerClosed(entry.from!, entry.closedReason);
    }
    inbox.length = 0;
    this.inboxHead = 0;
  }

  private runPeerClosed(peer: MailboxPeer, reason: Error | undefined): void {
    try {
      this.onPeerClosed(peer, reason);
    } catch (error) {
      this.log.error({ err: error, peer: peer.address }, 'onPeerClosed threw');
    }
  }

  /** Handle one message; never throws. */
  private dispatch(msg: OpDict, from: MailboxPeer | undefined): void {
    const op = msg.op;
    const id = msg.id;
    const replyTo = typeof id === 'number' && from !== undefined ? from : undefined;
    const handlers = this.handlers;
    const handler = typeof op === 'string' && Object.hasOwn(handlers, op) ? handlers[op] : undefined;
    if (typeof handler !== 'function') {
      const error = new UnknownOpError(`${this.actorName} has no handler for op ${JSON.stringify(op)}`);
      if (replyTo !== undefined) replyTo.rpc.replyError(id as number, error);
      else this.log.error({ op, peer: from?.address }, error.message);
      return;
    }
    let result: unknown;
    try {
      result = handler.call(this, msg, from);
    } catch (error) {
      this.handlerFailed(error, op as string, replyTo, id);
      return;
    }
    if (isThenable(result)) {
      if (replyTo !== undefined) {
        result.then(
          (value) => replyTo.rpc.reply(id as number, value),
          (error: unknown) => this.handlerFailed(error, op as string, replyTo, id),
        );
      } else {
        result.then(undefined, (error: unknown) => this.handlerFailed(error, op as string, undefined, undefined));
      }
    } else if (replyTo !== undefined) {
      replyTo.rpc.reply(id as number, result);
    }
  }

  private handlerFailed(error: unknown, op: string, replyTo: MailboxPeer | undefined, id: unknown): void {
    if (replyTo !== undefined) {
      this.log.debug({ err: error, op, peer: replyTo.address }, 'request handler failed; sending error reply');
      replyTo.rpc.replyError(id as number, error);
    } else {
      this.log.error({ err: error, op }, 'stream message handler failed');
    }
  }
}
