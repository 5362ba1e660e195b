/**
 * The transport contract. A Comm carries op-dicts between two endpoints, in
 * order, with no reply semantics of its own (RPC sits on top: lib/comm/rpc.ts).
 *
 * Transports: `tcp://host:port` (lib/comm/tcp.ts), `tls://host:port`
 * (lib/comm/tls.ts, the same framing over mutual TLS) and `inproc://name`
 * (lib/comm/inproc.ts, MessagePorts inside one process). lib/comm/registry.ts
 * picks one by the address scheme.
 */
import type { OpDict } from '../protocol/messages.js';
import type { Security } from './security.js';

export interface Comm {
  /** This end, as a peer would dial it back when that makes sense (else a descriptive string). */
  readonly localAddress: string;
  /** The other end's address. */
  readonly peerAddress: string;
  readonly closed: boolean;
  /**
   * Queue one message. Messages written in the same tick (or while a previous
   * write is still pending on the socket) are coalesced into one write; a lone
   * message goes out at once, without a timer. Writing to a closed comm is a
   * silent no-op: the close handler has already told the owner.
   */
  write(msg: OpDict): void;
  /** Exactly one message handler; messages arrive in the order they were written. */
  onMessage(handler: (msg: OpDict) => void): void;
  /** Called once, when either side closes or the transport fails (with the reason). */
  onClose(handler: (reason?: Error) => void): void;
  close(): Promise<void>;
  /**
   * Optional: told about a message the transport could not encode (say, a
   * function inside it). That message is dropped and logged; the comm stays up.
   */
  onWriteError?(handler: (msg: OpDict, error: Error) => void): void;
  /** Optional: make this open comm keep the process alive again (the default). */
  ref?(): void;
  /** Optional: let the process exit even though this comm is open. */
  unref?(): void;
}

export interface Listener {
  /** The address clients dial, with the real port when port 0 was asked for. */
  readonly address: string;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** milliseconds or a string with a unit; default 10 s */
  timeout?: number | string;
  /** TLS credentials (tls://) and whether plain tcp:// is refused; default: the program's (lib/comm/program-security.ts). */
  security?: Security | undefined;
}

export interface ListenOptions {
  /** Largest message accepted on this listener's comms, in bytes (default 1 GiB). */
  maxMessageBytes?: number;
  /** TLS credentials (tls://) and whether plain tcp:// is refused; default: the program's. */
  security?: Security | undefined;
  /**
   * tcp:// only: read large frames into buffers from frame-recycling.ts's pool,
   * which the listener's owner may hand back when it drops a value it claimed.
   * Only for an owner that is the sole consumer of its comms' messages (a worker).
   */
  recycleLargeFrames?: boolean;
}

export interface Transport {
  readonly scheme: string;
  connect(address: string, options?: ConnectOptions): Promise<Comm>;
  listen(address: string, onComm: (comm: Comm) => void, options?: ListenOptions): Promise<Listener>;
}
