/**
 * `tcp://host:port` — comms over node:net sockets, framed by lib/protocol/wire.ts.
 *
 * Writes: the first message of a tick schedules one flush (a microtask, never a
 * timer); everything written until then, or while the socket is still draining
 * a previous flush, is encoded as one batch and written corked, so the frames
 * leave in one writev (on tls://, frames over a slice go out a slice at a
 * time, see TcpCommOptions.writeSliceBytes). Reads: a decoder error
 * (garbage, an absurd length) is logged and closes that connection only.
 *
 * Reads go straight into the decoder's memory (node:net `onread`): the bytes of
 * a large frame are written by the kernel into that frame's final buffer, with
 * no 64 KiB chunks to hold and copy. node:net offers `onread` only to sockets
 * it creates for `net.connect`, so an accepted socket's handle is moved into a
 * socket built with it (see `withDirectReads`); where that is not possible the
 * comm falls back to 'data' events, which the decoder copies exactly once.
 *
 * Compression (lz4, wire.ts) is off when the peer is on this host (a
 * loopback or own address): there bandwidth is memory bandwidth, and
 * compressing and decompressing a large frame costs more than sending it raw.
 *
 * TcpComm also carries `tls://` (lib/comm/tls.ts hands it a TLSSocket): one
 * framing for both; TLS sockets read through 'data' events.
 *
 * Addresses: host defaults to 127.0.0.1; listening on port 0 (or no port)
 * picks a free port, reported in Listener.address.
 */
import net from 'node:net';
import { CommClosedError, ConnectError, MessageTooLargeError, ProtocolError } from '../errors.js';
import { childLogger } from '../logging.js';
import type { OpDict } from '../protocol/messages.js';
import { sendCallback } from '../protocol/frame-recycling.js';
import { invokeOwnerCallback } from './owner-callback.js';
import {
  encodeBatch,
  maxMessageBytes,
  maxTotalMessageBytes,
  messageSize,
  MIN_FRAME_LIMIT_BYTES,
  WireDecoder,
  type EncodeOptions,
} from '../protocol/wire.js';
import { optionalDuration } from '../units.js';
import { CLOCK_EVERY_MASK, DELIVER_BUDGET_MS, SEND_BUDGET_MS, turnOver } from './turn-budget.js';
import { BatchSizer } from './batch-sizer.js';
import type { Comm, ConnectOptions, Listener, ListenOptions, Transport } from './comm.js';
import { contactHost } from './contact-host.js';

const SCHEME = 'tcp';
const DEFAULT_HOST = '127.0.0.1';
const log = childLogger('comm', { transport: SCHEME });

/** How long a closing comm waits for the peer to finish the close before dropping the socket. */
const CLOSE_GRACE_MS = 2000;
const KEEPALIVE_DELAY_MS = 30_000;

const UNCOMPRESSED: EncodeOptions = { compression: false };

/** Is the peer at `remote` on this host (a loopback address, or the address we are reached at)? */
export function isSameHost(remote: string | undefined, local: string | undefined): boolean {
  if (remote === undefined) return false;
  const host = remote.startsWith('::ffff:') ? remote.slice('::ffff:'.length) : remote;
  return host.startsWith('127.') || host === '::1' || remote === local;
}

export interface TcpEndpoint {
  host: string;
  /** undefined when the address names no port */
  port: number | undefined;
}

/**
 * Split `tcp://host:port` (IPv6 hosts in brackets). Throws TypeError on
 * anything else. `scheme`: another socket scheme with the same shape (tls).
 */
export function parseTcpAddress(address: string, scheme = SCHEME): TcpEndpoint {
  const prefix = `${scheme}://`;
  if (typeof address !== 'string' || !address.toLowerCase().startsWith(prefix)) {
    throw new TypeError(`not a ${scheme} address: ${JSON.stringify(address)} (expected ${prefix}host:port)`);
  }
  const rest = address.slice(prefix.length);
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/[\]\s]*))(?::(\d{1,5}))?\/?$/.exec(rest);
  if (match === null) throw new TypeError(`invalid ${scheme} address: ${JSON.stringify(address)} (expected ${prefix}host:port)`);
  const host = match[1] ?? (match[2] === '' ? DEFAULT_HOST : match[2]!);
  const port = match[3] === undefined ? undefined : Number(match[3]);
  if (port !== undefined && port > 65535) throw new TypeError(`invalid port in ${scheme} address: ${JSON.stringify(address)}`);
  return { host, port };
}

export function formatTcpAddress(host: string | undefined, port: number | undefined, scheme = SCHEME): string {
  let h = host ?? '?';
  if (h.startsWith('::ffff:') && h.includes('.')) h = h.slice('::ffff:'.length);
  return h.includes(':') ? `${scheme}://[${h}]:${port ?? '?'}` : `${scheme}://${h}:${port ?? '?'}`;
}

export interface TcpCommOptions {
  /** Largest message accepted from the peer, in bytes (the decoder's default when absent). */
  maxMessageBytes?: number;
  /** The scheme of the addresses the comm reports (default 'tcp'; 'tls' for a TLSSocket). */
  scheme?: string;
  /**
   * Hand the socket frames longer than this in slices of this size, the next
   * once the socket has drained (default: whole frames, in one writev). For
   * TLS: node:tls copies a multi-buffer write into one new buffer and then
   * encrypts all of it into new memory before sending a byte, so a 100 MB
   * frame would cost 200 MB of fresh memory; slices reuse the same little.
   */
  writeSliceBytes?: number;
  /** Read large frames into buffers of frame-recycling.ts's pool (see ListenOptions.recycleLargeFrames). */
  recycleLargeFrames?: boolean;
}

function newDecoder(options: TcpCommOptions): WireDecoder {
  return new WireDecoder({
    ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
    ...(options.recycleLargeFrames === true ? { recycleLargeFrames: true } : {}),
  });
}

/**
 * A socket's `onread` routed into a WireDecoder. It exists before its socket
 * (node asks for the first buffer while setting the socket up); the comm
 * attaches itself once the socket is there.
 */
export class DirectReads {
  comm: TcpComm | undefined;
  readonly onread: net.OnReadOpts;
  /** Messages read before the comm attached; reading pauses until it does. */
  readonly early: OpDict[] = [];
  pausedEarly = false;

  constructor(readonly decoder: WireDecoder) {
    this.onread = {
      buffer: () => decoder.readTarget(),
      callback: (bytes: number) => (this.comm === undefined ? this.readBeforeComm(bytes) : this.comm.handleRead(bytes)),
    };
  }

  private readBeforeComm(bytes: number): boolean {
    this.pausedEarly = true;
    try {
      for (const msg of this.decoder.commitRead(bytes)) this.early.push(msg);
    } catch {
      // The decoder keeps the error; the comm reports it when it attaches.
    }
    return false;
  }
}

interface SocketInternals {
  _handle?: object | null;
}

/**
 * Rebuild an accepted socket (from a server with `pauseOnConnect`, so nothing
 * has been read) around the same handle, this time with `onread`. This relies
 * on node internals (`_handle`, the `handle` constructor option) that net.Server
 * itself uses; returns undefined, leaving `accepted` as it was, if they are not there.
 */
function withDirectReads(accepted: net.Socket, reads: DirectReads): net.Socket | undefined {
  const internals = accepted as unknown as SocketInternals;
  const handle = internals._handle;
  if (handle === null || typeof handle !== 'object') return undefined;
  let socket: net.Socket;
  try {
    socket = new net.Socket({ handle, onread: reads.onread, readable: true, writable: true } as net.SocketConstructorOpts);
  } catch (error) {
    log.debug({ err: error }, 'cannot rebuild an accepted socket with onread; using data events');
    return undefined;
  }
  // The new socket owns the handle; the old one, handle-less, only settles the server's connection count.
  internals._handle = null;
  accepted.destroy();
  return socket;
}

export class TcpComm implements Comm {
  readonly localAddress: string;
  readonly peerAddress: string;
  private readonly decoder: WireDecoder;
  private messageHandler: ((msg: OpDict) => void) | undefined;
  private closeHandler: ((reason?: Error) => void) | undefined;
  private writeErrorHandler: ((msg: OpDict, error: Error) => void) | undefined;
  private outbox: OpDict[] | undefined;
  /** Messages of `outbox` before this index are sent (a long outbox goes out over several turns). */
  private outboxHead = 0;
  /** Encoded frames not yet handed to the socket (paced writes), and how much of the first was. */
  private readonly unsent: Uint8Array[] = [];
  private unsentOffset = 0;
  private readonly writeSlice: number;
  /** close() was called while frames were unsent: end the socket once they are. */
  private endWhenSent = false;
  private flushScheduled = false;
  private waitingForDrain = false;
  private isClosed = false;
  private socketClosed = false;
  private closeReason: Error | undefined;
  /** Largest message this comm sends: a receiver would refuse (and drop the connection over) a larger one. */
  private readonly sendLimit: number;
  /** Whether a valid message has arrived: bad bytes before that mean a peer speaking another protocol. */
  private receivedAny = false;
  private readonly whenSocketClosed: Promise<void>;
  private resolveSocketClosed!: () => void;
  /** Reading through `onread` (else 'data' events). */
  private readonly direct: boolean;
  /** Direct reads only: messages decoded before anyone listened (reading is paused meanwhile). */
  private pending: OpDict[] | undefined;
  /** Compression off for a peer on this host; the frame limit always. */
  private readonly encodeOptions: EncodeOptions;
  /** Messages per wire message, sized by what encoding them costs (batch-sizer.ts). */
  private readonly batchSizer = new BatchSizer();

  /** `reads`: the DirectReads the socket was created with, if any. */
  constructor(private readonly socket: net.Socket, options: TcpCommOptions = {}, reads?: DirectReads) {
    this.localAddress = formatTcpAddress(socket.localAddress, socket.localPort, options.scheme);
    this.peerAddress = formatTcpAddress(socket.remoteAddress, socket.remotePort, options.scheme);
    this.direct = reads !== undefined;
    this.writeSlice = options.writeSliceBytes !== undefined && options.writeSliceBytes > 0 ? options.writeSliceBytes : Infinity;
    // Frames stay under this process's message limit (longer ones go in pieces); whole messages under the total cap.
    const maxFrameBytes = Math.max(MIN_FRAME_LIMIT_BYTES, maxMessageBytes());
    const sameHost = isSameHost(socket.remoteAddress, socket.localAddress);
    this.encodeOptions = sameHost ? { ...UNCOMPRESSED, maxFrameBytes } : { maxFrameBytes };
    this.decoder = reads?.decoder ?? newDecoder(options);
    this.sendLimit = maxTotalMessageBytes();
    if (reads !== undefined) reads.comm = this;
    this.whenSocketClosed = new Promise((resolve) => { this.resolveSocketClosed = resolve; });
    socket.setNoDelay(true);
    // Notice peers that vanish without a FIN (a machine that died, a cable pulled).
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    socket.on('error', this.handleError);
    socket.on('end', this.handleEnd);
    socket.once('close', this.handleSocketClose);
    if (reads !== undefined) this.adoptEarlyReads(reads);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(msg: OpDict): void {
    if (this.isClosed) return;
    if (this.outbox === undefined) this.outbox = [msg];
    else this.outbox.push(msg);
    if (!this.flushScheduled && !this.waitingForDrain) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  onMessage(handler: (msg: OpDict) => void): void {
    const first = this.messageHandler === undefined;
    this.messageHandler = handler;
    if (!first) return;
    if (!this.direct) {
      this.socket.on('data', this.handleData);
      this.socket.resume(); // an accepted socket starts paused (pauseOnConnect)
    } else if (this.pending !== undefined) {
      // Like 'data' events, messages that arrived early are delivered after the caller returns.
      queueMicrotask(this.deliverPending);
    }
  }

  onClose(handler: (reason?: Error) => void): void {
    this.closeHandler = handler;
    // Registered after the fact: this handler still hears about the close, once.
    if (this.socketClosed) queueMicrotask(() => this.notifyClose(handler));
  }

  /** Told about a message that could not be encoded (it is dropped, the comm stays up). */
  onWriteError(handler: (msg: OpDict, error: Error) => void): void {
    this.writeErrorHandler = handler;
  }

  ref(): void {
    this.socket.ref();
  }

  unref(): void {
    this.socket.unref();
  }

  /** Send what is queued, then end the connection; resolves when the socket is closed. */
  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true;
      this.flushSome(true);
      if (this.unsent.length === 0 && this.outbox === undefined) this.socket.end();
      else this.endWhenSent = true;
      // A peer that never finishes its side must not keep us open.
      setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
    }
    return this.whenSocketClosed;
  }

  private readonly flush = (): void => this.flushSome(false);

  /**
   * Encodes and writes what is queued, as much per wire message as encodes in
   * a couple of milliseconds (batch-sizer.ts, at most MAX_BATCH_MESSAGES);
   * unless `everything`, stops once SEND_BUDGET_MS (or the thread's turn) is spent or the socket
   * wants draining, and goes on at the next turn (turn-budget.ts).
   */
  private flushSome(everything: boolean): void {
    this.flushScheduled = false;
    if (this.waitingForDrain) return;
    const socket = this.socket;
    if (this.socketClosed || socket.destroyed) {
      this.dropOutbox();
      return;
    }
    const started = performance.now();
    turnOver(); // starts this thread's turn clock (turn-budget.ts), if nothing has yet
    socket.cork();
    // Slices of a large frame first: it was encoded before anything still in the outbox.
    let paused = this.writeUnsent();
    const outbox = this.outbox;
    while (!paused && outbox !== undefined && this.outboxHead < outbox.length) {
      const end = this.outboxHead + this.batchSizer.take(outbox, this.outboxHead);
      const batch = this.outboxHead === 0 && end === outbox.length ? outbox : outbox.slice(this.outboxHead, end);
      this.outboxHead = end;
      const encodeStarted = performance.now();
      for (const frame of this.encode(batch)) this.unsent.push(frame);
      const now = performance.now();
      this.batchSizer.record(now - encodeStarted);
      paused = this.writeUnsent();
      if (!everything && (socket.writableNeedDrain || now - started >= SEND_BUDGET_MS || turnOver())) break;
    }
    socket.uncork();
    if (outbox !== undefined && this.outboxHead >= outbox.length) {
      this.outbox = undefined;
      this.outboxHead = 0;
    }
    if (this.endWhenSent && this.unsent.length === 0 && this.outbox === undefined) {
      this.endWhenSent = false;
      socket.end();
      return;
    }
    if (paused || (socket.writableNeedDrain && !this.isClosed)) {
      this.waitingForDrain = true;
      socket.once('drain', this.handleDrain);
    } else if (this.outbox !== undefined) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /**
   * Write the encoded frames not yet sent (the socket is corked): whole when
   * at most a write slice, else one slice of the first big one. True when
   * that slice filled the socket's buffer: wait for 'drain' before the next.
   */
  private writeUnsent(): boolean {
    const socket = this.socket;
    const unsent = this.unsent;
    while (unsent.length > 0) {
      const frame = unsent[0]!;
      if (frame.byteLength - this.unsentOffset <= this.writeSlice) {
        // A recycled frame buffer (frame-recycling.ts) learns here when its last byte has left.
        socket.write(this.unsentOffset === 0 ? frame : frame.subarray(this.unsentOffset), sendCallback(frame));
        unsent.shift();
        this.unsentOffset = 0;
        continue;
      }
      socket.write(frame.subarray(this.unsentOffset, this.unsentOffset + this.writeSlice));
      this.unsentOffset += this.writeSlice;
      if (socket.writableNeedDrain) return true;
    }
    return false;
  }

  private dropOutbox(): void {
    this.outbox = undefined;
    this.outboxHead = 0;
    this.unsent.length = 0;
    this.unsentOffset = 0;
  }

  private readonly handleDrain = (): void => {
    this.waitingForDrain = false;
    if (this.unsent.length === 0 && this.outbox === undefined) return;
    // After close(), everything queued goes (then the socket ends).
    if (this.isClosed) {
      this.flushSome(true);
      return;
    }
    // A write the kernel took at once drains from a nextTick of the same turn: flushing
    // again from there would chain one budget after another without the loop turning.
    if (turnOver()) {
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
      return;
    }
    this.flushSome(false);
  };

  private encode(batch: OpDict[]): Uint8Array[] {
    try {
      const frames = encodeBatch(batch, this.encodeOptions);
      if (messageSize(frames) <= this.sendLimit) return frames;
    } catch {
      // Some message cannot be encoded: the loop below finds which.
    }
    // Keep the others, report the bad ones (unencodable, or over the limit: not a byte of them is sent).
    const frames: Uint8Array[] = [];
    for (const msg of batch) {
      try {
        const encoded = encodeBatch([msg], this.encodeOptions);
        const size = messageSize(encoded);
        if (size > this.sendLimit) {
          throw new MessageTooLargeError(
            `a ${String(msg.op)} message of ${size} bytes is over the ${this.sendLimit}-byte total message limit ` +
              '(DISTRIBUTED_MAX_TOTAL_MESSAGE_BYTES, else the machine\'s memory); it was not sent',
          );
        }
        frames.push(...encoded);
      } catch (error) {
        this.reportWriteError(msg, error as Error);
      }
    }
    return frames;
  }

  private reportWriteError(msg: OpDict, error: Error): void {
    log.warn({ err: error, op: msg.op, peer: this.peerAddress }, 'message could not be encoded');
    invokeOwnerCallback(log, 'write error handler', this.writeErrorHandler, msg, error);
  }

  private readonly handleData = (chunk: Buffer): void => {
    if (this.socketClosed) return;
    let messages: OpDict[];
    try {
      messages = this.decoder.push(chunk);
    } catch (error) {
      this.failOnBadBytes(error as Error);
      return;
    }
    if (this.pending !== undefined) {
      for (const msg of messages) this.pending.push(msg);
      return;
    }
    if (!this.deliver(messages)) this.socket.pause();
  };

  /** `onread` callback: the decoder's last read target received `bytes`. False pauses reading. */
  handleRead(bytes: number): boolean {
    if (this.socketClosed) return false;
    let messages: OpDict[];
    try {
      messages = this.decoder.commitRead(bytes);
    } catch (error) {
      this.failOnBadBytes(error as Error);
      return false;
    }
    if (messages.length === 0) return true;
    if (this.messageHandler === undefined || this.pending !== undefined) {
      if (this.pending === undefined) this.pending = messages;
      else for (const msg of messages) this.pending.push(msg);
      return false;
    }
    return this.deliver(messages);
  }

  private adoptEarlyReads(reads: DirectReads): void {
    if (reads.early.length > 0) this.pending = reads.early.splice(0);
    const failure = reads.decoder.error;
    if (failure !== null) queueMicrotask(() => this.failOnBadBytes(failure));
    else if (reads.pausedEarly && this.pending === undefined) this.socket.resume();
  }

  private readonly deliverPending = (): void => {
    const messages = this.pending;
    this.pending = undefined;
    if (messages === undefined || this.socketClosed) return;
    if (this.deliver(messages) && !this.socket.destroyed) this.socket.resume();
  };

  private failOnBadBytes(error: Error): void {
    if (!this.receivedAny && !(error instanceof MessageTooLargeError)) {
      // Nothing valid ever came: most likely another kind of server (HTTP, SSH...) at this address.
      const mismatch = new ProtocolError(
        `${this.peerAddress} does not speak the distributed-ts protocol (its first bytes are not a distributed-ts frame: ${error.message}); ` +
          'is this the address of a distributed-ts scheduler or worker?',
        { cause: error },
      );
      log.warn({ peer: this.peerAddress, reason: error.message }, 'the peer does not speak the distributed-ts protocol; closing the connection');
      this.fail(mismatch);
      return;
    }
    log.warn({ err: error, peer: this.peerAddress }, 'bad bytes on connection; closing it');
    this.fail(error);
  }

  /**
   * Hands `messages` to the handler in order for at most DELIVER_BUDGET_MS, and
   * not past the end of the thread's turn budget (turn-budget.ts);
   * the rest wait in `pending` for the next turn (reading stays paused
   * meanwhile). True when all were handed over.
   */
  private deliver(messages: OpDict[]): boolean {
    this.receivedAny = true;
    const handler = this.messageHandler!;
    const started = performance.now();
    turnOver(); // starts this thread's turn clock, if nothing has yet
    for (let i = 0; i < messages.length; i++) {
      if (this.socket.destroyed) return true;
      const msg = messages[i]!;
      try {
        handler(msg);
      } catch (error) {
        log.error({ err: error, op: msg.op, peer: this.peerAddress }, 'message handler threw');
      }
      if ((i & CLOCK_EVERY_MASK) === CLOCK_EVERY_MASK && i + 1 < messages.length && (performance.now() - started >= DELIVER_BUDGET_MS || turnOver())) {
        this.pending = messages.slice(i + 1);
        setImmediate(this.deliverPending);
        return false;
      }
    }
    return true;
  }

  private fail(reason: Error): void {
    this.closeReason ??= reason;
    this.isClosed = true;
    this.dropOutbox();
    this.socket.destroy();
  }

  private readonly handleError = (error: Error): void => {
    if (this.closeReason === undefined && !(this.isClosed && isResetError(error))) {
      this.closeReason = new CommClosedError(`connection to ${this.peerAddress} failed: ${error.message}`, { cause: error });
    }
    this.isClosed = true;
  };

  private readonly handleEnd = (): void => {
    // The peer finished sending: with allowHalfOpen off, node ends our side too.
    if (!this.isClosed) this.closeReason ??= new CommClosedError(`${this.peerAddress} closed the connection`);
    this.isClosed = true;
    this.dropOutbox();
  };

  private readonly handleSocketClose = (): void => {
    this.socketClosed = true;
    if (!this.isClosed) this.closeReason ??= new CommClosedError(`connection to ${this.peerAddress} was lost`);
    this.isClosed = true;
    this.dropOutbox();
    this.resolveSocketClosed();
    if (this.closeHandler !== undefined) this.notifyClose(this.closeHandler);
  };

  private notifyClose(handler: (reason?: Error) => void): void {
    invokeOwnerCallback(log, `close handler for ${this.peerAddress}`, handler, this.closeReason);
  }
}

function isResetError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** A listening net.Server (or tls.Server, which extends it) as a Listener. */
export class ServerListener implements Listener {
  constructor(readonly address: string, private readonly server: net.Server) {}

  /** Stop accepting; comms already accepted stay open (their owners close them). */
  async close(): Promise<void> {
    if (this.server.listening) this.server.close();
  }
}

export const tcpTransport: Transport = {
  scheme: SCHEME,

  connect(address: string, options?: ConnectOptions): Promise<Comm> {
    const { host, port } = parseTcpAddress(address);
    if (port === undefined || port === 0) return Promise.reject(new TypeError(`tcp address needs a port to connect: ${address}`));
    const timeout = optionalDuration(options?.timeout);
    return new Promise<Comm>((resolve, reject) => {
      const reads = new DirectReads(newDecoder({}));
      const socket = net.connect({ host, port, noDelay: true, onread: reads.onread });
      let timer: NodeJS.Timeout | undefined;
      const onError = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectError(`could not connect to ${address}: ${error.message}`, { cause: error }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new TcpComm(socket, {}, reads));
      });
      if (timeout !== undefined && timeout !== Infinity) {
        timer = setTimeout(() => onError(new Error(`timed out after ${timeout} ms`)), timeout);
      }
    });
  },

  listen(address: string, onComm: (comm: Comm) => void, options?: ListenOptions): Promise<Listener> {
    const { host, port } = parseTcpAddress(address);
    const commOptions: TcpCommOptions = {
      ...(options?.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
      ...(options?.recycleLargeFrames === true ? { recycleLargeFrames: true } : {}),
    };
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
      if (accepted.remoteAddress === undefined) {
        // Already gone before we saw it.
        accepted.destroy();
        return;
      }
      let comm: TcpComm;
      try {
        const reads = new DirectReads(newDecoder(commOptions));
        const socket = withDirectReads(accepted, reads);
        if (socket !== undefined) {
          comm = new TcpComm(socket, commOptions, reads);
        } else {
          comm = new TcpComm(accepted, commOptions);
        }
      } catch (error) {
        log.warn({ err: error }, 'could not set up an accepted connection');
        accepted.destroy();
        return;
      }
      try {
        onComm(comm);
      } catch (error) {
        log.error({ err: error, peer: comm.peerAddress }, 'connection handler threw; closing the connection');
        void comm.close();
      }
    });
    return new Promise<Listener>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: port ?? 0 }, () => {
        server.off('error', reject);
        server.on('error', (error) => log.error({ err: error, address }, 'listener error'));
        const bound = server.address() as net.AddressInfo;
        resolve(new ServerListener(formatTcpAddress(contactHost(host), bound.port), server));
      });
    });
  },
};
