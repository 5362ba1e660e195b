/**
 * Request/reply over any Comm. A request is the op-dict plus a numeric `id`
 * (unique per channel and direction); the answer is a `reply` op-dict
 * (ReplyOk / ReplyError) carrying the same id. Both ends may call each other
 * over one comm: replies are told apart by `op: 'reply'`.
 *
 * One message listener per channel, no per-call listeners; a timer only for a
 * call that asks for a timeout. When the comm closes, every outstanding call
 * rejects at once with CommClosedError.
 */
import { CommClosedError, MessageTooLargeError, ProtocolError, SerializationError, TimeoutError } from '../errors.js';
import { childLogger } from '../logging.js';
import { deserializeError, serializeError } from '../protocol/errors.js';
import type { OpDict, Outgoing, Reply, ReplyError, ReplyOk } from '../protocol/messages.js';
import { optionalDuration } from '../units.js';
import type { Comm, ConnectOptions } from './comm.js';
import { connect } from './registry.js';

const log = childLogger('rpc');

export interface RpcCallOptions {
  /** milliseconds or a string with a unit; default: no timeout, but a closed comm always rejects */
  timeout?: number | string;
}

export interface RpcChannelHandlers {
  /** Every incoming message that is not a reply to one of this channel's calls. */
  onMessage?: (msg: OpDict) => void;
  /** The comm closed (after every outstanding call was rejected). */
  onClose?: (reason?: Error) => void;
}

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  op: string;
}

export class RpcChannel {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private messageHandler: ((msg: OpDict) => void) | undefined;
  private closeHandler: ((reason?: Error) => void) | undefined;

  constructor(readonly comm: Comm, handlers: RpcChannelHandlers = {}) {
    this.messageHandler = handlers.onMessage;
    this.closeHandler = handlers.onClose;
    comm.onMessage(this.handleMessage);
    comm.onClose(this.handleClose);
    comm.onWriteError?.(this.handleWriteError);
  }

  get closed(): boolean {
    return this.comm.closed;
  }

  /** Calls still waiting for their reply. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  onMessage(handler: (msg: OpDict) => void): void {
    this.messageHandler = handler;
  }

  onClose(handler: (reason?: Error) => void): void {
    this.closeHandler = handler;
  }

  /** Fire-and-forget. */
  send(msg: OpDict): void {
    this.comm.write(msg);
  }

  /** Send `msg` as a request and resolve with the reply's result (or reject with its error). */
  call<T = unknown>(msg: Outgoing, options?: RpcCallOptions): Promise<T> {
    if (this.comm.closed) {
      return Promise.reject(new CommClosedError(`cannot call ${msg.op} on ${this.comm.peerAddress}: connection closed`));
    }
    const timeout = options?.timeout === undefined ? undefined : optionalDuration(options.timeout);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const entry: PendingCall = { resolve: resolve as (value: unknown) => void, reject, timer: undefined, op: msg.op };
      if (timeout !== undefined && timeout !== Infinity) entry.timer = setTimeout(this.expire, timeout, id, timeout);
      this.pending.set(id, entry);
      this.comm.write({ ...msg, id });
    });
  }

  /** Answer request `id` with a result. */
  reply(id: number, result: unknown): void {
    const msg = { op: 'reply', id, status: 'OK', result } satisfies ReplyOk;
    this.comm.write(msg);
  }

  /** Answer request `id` with an error. */
  replyError(id: number, error: unknown): void {
    const msg = { op: 'reply', id, status: 'error', error: serializeError(error) } satisfies ReplyError;
    this.comm.write(msg);
  }

  close(): Promise<void> {
    return this.comm.close();
  }

  private readonly handleMessage = (msg: OpDict): void => {
    if (isReply(msg)) this.settle(msg);
    else if (this.messageHandler !== undefined) this.messageHandler(msg);
    else log.warn({ op: msg.op, peer: this.comm.peerAddress }, 'message with no handler dropped');
  };

  private settle(reply: Reply): void {
    const entry = typeof reply.id === 'number' ? this.pending.get(reply.id) : undefined;
    if (entry === undefined) {
      log.debug({ id: reply.id, peer: this.comm.peerAddress }, 'reply to no outstanding call (timed out?)');
      return;
    }
    this.pending.delete(reply.id);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    if (reply.status === 'OK') entry.resolve(reply.result);
    else if (reply.status === 'error') entry.reject(deserializeError(reply.error));
    else entry.reject(new ProtocolError(`malformed reply to ${entry.op} from ${this.comm.peerAddress}`));
  }

  private readonly expire = (id: number, timeout: number): void => {
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    entry.reject(new TimeoutError(`call ${entry.op} to ${this.comm.peerAddress} timed out after ${timeout} ms`));
  };

  private readonly handleClose = (reason?: Error): void => {
    if (this.pending.size > 0) {
      const calls = [...this.pending.values()];
      this.pending.clear();
      const why = reason === undefined ? 'connection closed' : reason.message;
      for (const entry of calls) {
        if (entry.timer !== undefined) clearTimeout(entry.timer);
        entry.reject(new CommClosedError(`call ${entry.op} to ${this.comm.peerAddress} failed: ${why}`, { cause: reason }));
      }
    }
    this.closeHandler?.(reason);
  };

  private readonly handleWriteError = (msg: OpDict, error: Error): void => {
    const id = msg.id;
    if (typeof id !== 'number') return;
    const tooLarge = error instanceof MessageTooLargeError;
    if (msg.op === 'reply') {
      // Tell the caller instead of letting it wait forever.
      if (msg.status === 'OK') this.replyError(id, tooLarge ? error : new SerializationError(`reply could not be encoded: ${error.message}`));
      return;
    }
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.pending.delete(id);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.reject(tooLarge ? error : new SerializationError(`request ${entry.op} could not be encoded: ${error.message}`, { cause: error }));
  };
}

/** Dial `address` and wrap the comm in an RpcChannel. */
export async function connectRpc(address: string, options?: ConnectOptions & RpcChannelHandlers): Promise<RpcChannel> {
  return new RpcChannel(await connect(address, options), options);
}

/** A reply to one of our calls (its fields are checked where it settles the call). */
function isReply(msg: OpDict): msg is OpDict & Reply {
  return msg.op === 'reply';
}
