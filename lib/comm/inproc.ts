/**
 * `inproc://` — comms between actors of one JavaScript realm (one thread),
 * each a MessageChannel pair. Messages written in the same tick travel as one
 * array in one postMessage. Large binaries are moved into shared memory once
 * (lib/comm/shared-bytes.ts), so the receiver sees the sender's bytes, uncopied.
 * Comms made by `connect` have both ends in this thread and hand their batches
 * over directly instead (direct-delivery.ts): no clone, no wake-up; messages
 * are immutable once written.
 *
 * Addresses: `listen('inproc://')` allocates a unique `inproc://<pid>/<n>`;
 * `listen('inproc://name')` takes exactly that address (an error if taken).
 * Ports are ref'd while open and released when closed, so a process whose
 * comms are all closed can exit; `unref()` lets an open comm stop holding it.
 */
import { MessageChannel, threadId, type MessagePort } from 'node:worker_threads';
import { CommClosedError, ConnectError } from '../errors.js';
import { childLogger } from '../logging.js';
import type { OpDict } from '../protocol/messages.js';
import { invokeOwnerCallback } from './owner-callback.js';
import type { Comm, ConnectOptions, Listener, ListenOptions, Transport } from './comm.js';
import { prepareForPost } from './shared-bytes.js';
import { CLOCK_EVERY_MASK, turnOver } from './turn-budget.js';
import { deliverDirect, uncloneablePart, type DirectReceiver } from './direct-delivery.js';

const SCHEME = 'inproc';
const PREFIX = `${SCHEME}://`;
const log = childLogger('comm', { transport: SCHEME });

const hostPart = threadId === 0 ? `${process.pid}` : `${process.pid}-${threadId}`;
let nextAddressNumber = 0;

/** A fresh address no listener or comm of this thread has used. */
export function uniqueInprocAddress(): string {
  return `${PREFIX}${hostPart}/${++nextAddressNumber}`;
}

type ConnectionHandler = (comm: Comm) => void;
const listeners = new Map<string, ConnectionHandler>();

/**
 * Dials inproc addresses that have no listener in this thread: a worker
 * thread has it send the port to the thread that owns the listener (see
 * `acceptInprocPort`). Unset, such a connect fails with ConnectError.
 */
export type InprocDialer = (address: string, port: MessagePort, localAddress: string) => Promise<void>;
let remoteDialer: InprocDialer | undefined;

export function setInprocDialer(dialer: InprocDialer | undefined): void {
  remoteDialer = dialer;
}

/**
 * Hands a port dialled from another thread to this thread's listener at
 * `address`, as if it had connected here. Throws ConnectError (and closes the
 * port) when there is no such listener.
 */
export function acceptInprocPort(address: string, port: MessagePort, peerAddress: string): void {
  const accept = listeners.get(address);
  if (accept === undefined) {
    port.close();
    throw new ConnectError(`no inproc listener at ${address}`);
  }
  accept(new InprocComm(port, address, peerAddress));
}

export class InprocComm implements Comm, DirectReceiver {
  /** The other end when it lives in this thread: batches are handed over directly (direct-delivery.ts). */
  private directPeer: InprocComm | undefined;
  /** Batches handed over before a message handler was set. */
  private earlyBatches: unknown[][] | undefined;
  private messageHandler: ((msg: OpDict) => void) | undefined;
  private closeHandler: ((reason?: Error) => void) | undefined;
  private writeErrorHandler: ((msg: OpDict, error: Error) => void) | undefined;
  private outbox: unknown[] | undefined;
  /** Messages received but not yet handed over (a long batch goes over several turns), from `backlogHead`. */
  private backlog: OpDict[] | undefined;
  private backlogHead = 0;
  private isClosed = false;
  private closeReason: Error | undefined;
  private portClosed = false;
  private closedLocally = false;
  private readonly whenPortClosed: Promise<void>;
  private resolvePortClosed!: () => void;

  constructor(
    private readonly port: MessagePort,
    readonly localAddress: string,
    readonly peerAddress: string,
  ) {
    this.whenPortClosed = new Promise((resolve) => { this.resolvePortClosed = resolve; });
    port.once('close', this.handlePortClose);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(msg: OpDict): void {
    if (this.isClosed) return;
    // Requests and replies carry what handlers return, which may be anything; stream messages are
    // built by this package from plain data, and checking every one would cost more than it finds.
    if (this.directPeer !== undefined && typeof msg.id === 'number') {
      const bad = uncloneablePart(msg);
      if (bad !== undefined) {
        const error = new DataCloneError(`${bad} could not be cloned`);
        queueMicrotask(() => this.reportWriteError(msg, error));
        return;
      }
    }
    const prepared = this.directPeer !== undefined ? msg : prepareForPost(msg);
    if (this.outbox === undefined) {
      this.outbox = [prepared];
      queueMicrotask(this.flush);
    } else {
      this.outbox.push(prepared);
    }
  }

  onMessage(handler: (msg: OpDict) => void): void {
    const first = this.messageHandler === undefined;
    this.messageHandler = handler;
    if (first) this.port.on('message', this.handleBatch);
    const early = this.earlyBatches;
    if (first && early !== undefined) {
      this.earlyBatches = undefined;
      queueMicrotask(() => { for (const batch of early) this.handleBatch(batch); });
    }
  }

  /** Pairs two ends in this thread: from now on they skip the MessagePort (and its clone) for messages. */
  static linkDirect(a: InprocComm, b: InprocComm): void {
    a.directPeer = b;
    b.directPeer = a;
  }

  /** A batch handed over by the direct peer. */
  receiveBatch(batch: unknown[]): void {
    if (this.closedLocally) return;
    if (this.messageHandler === undefined) (this.earlyBatches ??= []).push(batch);
    else this.handleBatch(batch);
  }

  onClose(handler: (reason?: Error) => void): void {
    this.closeHandler = handler;
    // Registered after the fact: this handler still hears about the close, once.
    if (this.portClosed) queueMicrotask(() => this.notifyClose(handler));
  }

  /** Told about a message the transport could not serialize (it is dropped, the comm stays up). */
  onWriteError(handler: (msg: OpDict, error: Error) => void): void {
    this.writeErrorHandler = handler;
  }

  /** Keep the process alive while this comm is open (the default). */
  ref(): void {
    this.port.ref();
  }

  /** Let the process exit even though this comm is open. */
  unref(): void {
    this.port.unref();
  }

  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.closedLocally = true;
      this.flush();
      this.port.close();
    }
    return this.whenPortClosed;
  }

  private readonly flush = (): void => {
    const batch = this.outbox;
    this.outbox = undefined;
    if (batch === undefined || this.portClosed) return;
    if (this.directPeer !== undefined) {
      deliverDirect(this.directPeer, batch);
      return;
    }
    try {
      this.port.postMessage(batch);
    } catch {
      // One message cannot be cloned: send the rest one by one and report the bad ones.
      for (const msg of batch) {
        try {
          this.port.postMessage([msg]);
        } catch (error) {
          this.reportWriteError(msg as OpDict, error as Error);
        }
      }
    }
  };

  private reportWriteError(msg: OpDict, error: Error): void {
    log.warn({ err: error, op: msg.op, peer: this.peerAddress }, 'message could not be sent');
    invokeOwnerCallback(log, 'write error handler', this.writeErrorHandler, msg, error);
  }

  private readonly handleBatch = (batch: unknown): void => {
    if (!Array.isArray(batch)) {
      log.warn({ peer: this.peerAddress }, 'dropped a non-batch inproc message');
      return;
    }
    if (this.backlog !== undefined) {
      // Still handing over an earlier batch: this one waits its turn behind it.
      for (const msg of batch as OpDict[]) this.backlog.push(msg);
      return;
    }
    if (turnOver()) {
      // This thread's turn is spent (turn-budget.ts): the whole batch waits for a later turn.
      this.backlog = batch as OpDict[];
      this.backlogHead = 0;
      setImmediate(this.handBacklog);
      return;
    }
    this.handSome(batch as OpDict[], 0);
  };

  /**
   * Hands `messages` from `from` on to the handler (at least one) until the
   * thread has used its turn (turn-budget.ts: its clock started no later than
   * this call, so it bounds this comm's share too); what is left becomes the
   * backlog, handed over at the next turn.
   */
  private handSome(messages: OpDict[], from: number): void {
    const handler = this.messageHandler!;
    turnOver(); // starts this thread's turn clock, if nothing has yet
    for (let i = from; i < messages.length; i++) {
      if (this.portClosed && this.directPeer === undefined) break;
      const msg = messages[i]!;
      try {
        handler(msg);
      } catch (error) {
        log.error({ err: error, op: msg.op, peer: this.peerAddress }, 'message handler threw');
      }
      if (((i - from) & CLOCK_EVERY_MASK) === CLOCK_EVERY_MASK && i + 1 < messages.length && turnOver()) {
        this.backlog = messages;
        this.backlogHead = i + 1;
        setImmediate(this.handBacklog);
        return;
      }
    }
    this.backlog = undefined;
    this.backlogHead = 0;
  }

  private readonly handBacklog = (): void => {
    const backlog = this.backlog;
    if (backlog === undefined) return;
    this.handSome(backlog, this.backlogHead);
  };

  private readonly handlePortClose = (): void => {
    this.portClosed = true;
    this.isClosed = true;
    this.outbox = undefined;
    if (!this.closedLocally) this.closeReason = new CommClosedError(`${this.peerAddress} closed the connection`);
    this.resolvePortClosed();
    if (this.closeHandler !== undefined) this.notifyClose(this.closeHandler);
  };

  private notifyClose(handler: (reason?: Error) => void): void {
    invokeOwnerCallback(log, `close handler for ${this.peerAddress}`, handler, this.closeReason);
  }
}

/**
 * Two connected comms over a fresh MessageChannel (useful for tests and for
 * wiring actors directly). With `direct: true` (what `connect` uses) messages
 * skip the port and its structured clone; the port still carries closing and
 * keeps the process alive while the comm is open.
 */
export function inprocPair(
  addressA: string = uniqueInprocAddress(),
  addressB: string = uniqueInprocAddress(),
  options: { direct?: boolean } = {},
): [InprocComm, InprocComm] {
  const { port1, port2 } = new MessageChannel();
  const a = new InprocComm(port1, addressA, addressB);
  const b = new InprocComm(port2, addressB, addressA);
  if (options.direct === true) InprocComm.linkDirect(a, b);
  return [a, b];
}

/** What structured clone throws for such values, so write errors read the same either way. */
class DataCloneError extends Error {
  override readonly name = 'DataCloneError';
}

function parseInprocAddress(address: string): string {
  if (typeof address !== 'string' || !address.startsWith(PREFIX)) {
    throw new TypeError(`not an inproc address: ${JSON.stringify(address)} (expected inproc://name)`);
  }
  return address.slice(PREFIX.length);
}

class InprocListener implements Listener {
  constructor(readonly address: string, private readonly accept: ConnectionHandler) {}

  async close(): Promise<void> {
    if (listeners.get(this.address) === this.accept) listeners.delete(this.address);
  }
}

export const inprocTransport: Transport = {
  scheme: SCHEME,

  async connect(address: string, options?: ConnectOptions): Promise<Comm> {
    void options; // connecting is immediate: there is nothing to time out
    if (parseInprocAddress(address) === '') throw new TypeError(`inproc address without a name: ${address}`);
    const accept = listeners.get(address);
    if (accept === undefined) {
      if (remoteDialer === undefined) throw new ConnectError(`no inproc listener at ${address}`);
      const { port1, port2 } = new MessageChannel();
      const localAddress = uniqueInprocAddress();
      try {
        await remoteDialer(address, port2, localAddress);
      } catch (error) {
        port1.close();
        if (error instanceof ConnectError) throw error;
        throw new ConnectError(`could not reach ${address} from this thread`, { cause: error });
      }
      return new InprocComm(port1, localAddress, address);
    }
    const [clientEnd, serverEnd] = inprocPair(uniqueInprocAddress(), address, { direct: true });
    try {
      accept(serverEnd);
    } catch (error) {
      log.error({ err: error, address }, 'inproc connection handler threw');
      void serverEnd.close();
      throw new ConnectError(`inproc listener at ${address} refused the connection`, { cause: error });
    }
    return clientEnd;
  },

  async listen(address: string, onComm: (comm: Comm) => void, options?: ListenOptions): Promise<Listener> {
    void options; // there are no bytes to bound: messages are cloned, not decoded
    const name = parseInprocAddress(address);
    const listenAddress = name === '' ? uniqueInprocAddress() : address;
    if (listeners.has(listenAddress)) throw new Error(`inproc address already in use: ${listenAddress}`);
    listeners.set(listenAddress, onComm);
    return new InprocListener(listenAddress, onComm);
  },
};
