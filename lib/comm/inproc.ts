/**
 * `inproc://` — comms between actors of one JavaScript realm (one thread),
 * each a MessageChannel pair. Messages written in the same tick travel as one
 * array in one postMessage. Large binaries are moved into shared memory once
 * (lib/comm/shared-bytes.ts), so the receiver sees the sender's bytes, uncopied.
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
import type { Comm, ConnectOptions, Listener, ListenOptions, Transport } from './comm.js';
import { prepareForPost } from './shared-bytes.js';

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

export class InprocComm implements Comm {
  private messageHandler: ((msg: OpDict) => void) | undefined;
  private closeHandler: ((reason?: Error) => void) | undefined;
  private writeErrorHandler: ((msg: OpDict, error: Error) => void) | undefined;
  private outbox: unknown[] | undefined;
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
    const prepared = prepareForPost(msg);
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
    if (this.writeErrorHandler === undefined) return;
    try {
      this.writeErrorHandler(msg, error);
    } catch (handlerError) {
      log.error({ err: handlerError }, 'write error handler threw');
    }
  }

  private readonly handleBatch = (batch: unknown): void => {
    const handler = this.messageHandler!;
    if (!Array.isArray(batch)) {
      log.warn({ peer: this.peerAddress }, 'dropped a non-batch inproc message');
      return;
    }
    for (const msg of batch as OpDict[]) {
      if (this.portClosed) return;
      try {
        handler(msg);
      } catch (error) {
        log.error({ err: error, op: msg.op, peer: this.peerAddress }, 'message handler threw');
      }
    }
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
    try {
      handler(this.closeReason);
    } catch (error) {
      log.error({ err: error, peer: this.peerAddress }, 'close handler threw');
    }
  }
}

/** Two connected comms over a fresh MessageChannel (useful for tests and for wiring actors directly). */
export function inprocPair(
  addressA: string = uniqueInprocAddress(),
  addressB: string = uniqueInprocAddress(),
): [InprocComm, InprocComm] {
  const { port1, port2 } = new MessageChannel();
  return [new InprocComm(port1, addressA, addressB), new InprocComm(port2, addressB, addressA)];
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
    if (accept === undefined) throw new ConnectError(`no inproc listener at ${address}`);
    const [clientEnd, serverEnd] = inprocPair(uniqueInprocAddress(), address);
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
