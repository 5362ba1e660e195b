/**
 * `tls://host:port` — the tcp:// framing (TcpComm, lib/comm/tcp.ts) over
 * node:tls sockets, with mutual authentication: both ends present a
 * certificate and accept only one the cluster CA signed (Security).
 *
 * A listener hands a comm over only after a completed handshake, so nothing
 * from a refused peer is ever decoded; a failed handshake (no certificate,
 * another CA's, garbage bytes, silence past HANDSHAKE_TIMEOUT_MS) is logged
 * once with the peer's address and the reason, and the socket dropped.
 *
 * A dialling end resolves only once the server has accepted *its*
 * certificate too. With TLS 1.2 that is part of the handshake; with TLS 1.3
 * the client finishes first and the server judges the client's certificate
 * afterwards, answering with a session ticket (accepted) or an alert
 * (refused): so the dialler waits for one of the two.
 */
import type net from 'node:net';
import tls from 'node:tls';
import { ConnectError, SecurityError, TlsHandshakeError } from '../errors.js';
import { childLogger } from '../logging.js';
import { optionalDuration } from '../units.js';
import type { Comm, ConnectOptions, Listener, ListenOptions, Transport } from './comm.js';
import { contactHost } from './contact-host.js';
import type { Security } from './security.js';
import { WireDecoder } from '../protocol/wire.js';
import { DirectReads, formatTcpAddress, parseTcpAddress, ServerListener, TcpComm, type TcpCommOptions } from './tcp.js';

const SCHEME = 'tls';
const log = childLogger('comm', { transport: SCHEME });

/** A peer that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** TLS 1.3: how long to wait for the server's verdict on our certificate if it sends no session ticket. */
const VERDICT_GRACE_MS = 2_000;
/** Large frames go to node:tls in slices of this size (see TcpCommOptions.writeSliceBytes). */
export const TLS_WRITE_SLICE_BYTES = 256 * 1024;

function credentials(security: Security | undefined, address: string): Security {
  if (security === undefined || !security.hasCredentials) {
    throw new SecurityError(`cannot use ${address} without TLS credentials: pass { security } (a Security with caFile, certFile and keyFile)`);
  }
  return security;
}

/** The peer of a server-side TLS socket, even once it is destroyed (then its TCP socket, read at accept, knows). */
function peerOf(socket: net.Socket): string {
  const raw = (socket as net.Socket & { _parent?: net.Socket | null })._parent ?? undefined;
  return formatTcpAddress(socket.remoteAddress ?? raw?.remoteAddress, socket.remotePort ?? raw?.remotePort, SCHEME);
}

/** OpenSSL's reason without its file/line decoration: "peer did not return a certificate". */
function reasonOf(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNRESET') return 'the peer hung up during the handshake (does it trust our CA?)';
  const match = /SSL routines:[^:]*:([^:]+):/.exec(error.message);
  return match?.[1] ?? error.message;
}

function handshakeError(address: string, error: Error): TlsHandshakeError {
  const code = (error as NodeJS.ErrnoException).code;
  let why = error.message;
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || /certificate required/i.test(why)) {
    why = 'the server requires a client certificate';
  } else if (/alert (unknown ca|bad certificate|certificate unknown|decrypt error)/i.test(why)) {
    why = `the server refused our certificate (${reasonOf(error)}): is it signed by the cluster CA?`;
  } else if (code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY') {
    why = `the server's certificate is not signed by our CA (${code})`;
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    why = `the server's certificate does not name this host: ${error.message}`;
  } else if (code === 'CERT_HAS_EXPIRED') {
    why = 'the server\'s certificate has expired';
  }
  return new TlsHandshakeError(`TLS handshake with ${address} failed: ${why}`, { cause: error });
}

interface TlsTarget {
  security: Security;
  host: string;
  port: number | undefined;
}

/** The credentials and host/port of a tls:// address; throws a typed error for either. */
function tlsTarget(address: string, given: Security | undefined): TlsTarget {
  const security = credentials(given, address);
  const { host, port } = parseTcpAddress(address, SCHEME);
  return { security, host, port };
}

export const tlsTransport: Transport = {
  scheme: SCHEME,

  connect(address: string, options?: ConnectOptions): Promise<Comm> {
    let target: TlsTarget;
    try {
      target = tlsTarget(address, options?.security);
    } catch (error) {
      return Promise.reject(error);
    }
    const { security, host, port } = target;
    if (port === undefined || port === 0) return Promise.reject(new TypeError(`tls address needs a port to connect: ${address}`));
    const timeout = optionalDuration(options?.timeout);
    return new Promise<Comm>((resolve, reject) => {
      // The dialling side decrypts straight into the decoder's memory (node:tls honours `onread`,
      // missing from @types/node, for sockets it creates): about twice the bytes per second of
      // 'data' events, and worker-to-worker data flows toward the worker that dialled.
      const reads = new DirectReads(new WireDecoder());
      const connectOptions: tls.ConnectionOptions & { onread: net.OnReadOpts } = { host, port, ...security.clientOptions(host), onread: reads.onread };
      const socket = tls.connect(connectOptions);
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (error: Error | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.off('session', onAccepted);
        if (error !== undefined) {
          socket.destroy();
          reject(error);
          return;
        }
        resolve(new TcpComm(socket, { scheme: SCHEME, writeSliceBytes: TLS_WRITE_SLICE_BYTES }, reads));
      };
      const onError = (error: Error): void => {
        finish((error as NodeJS.ErrnoException).code === 'ECONNREFUSED' || (error as NodeJS.ErrnoException).code === 'ETIMEDOUT'
          ? new ConnectError(`could not connect to ${address}: ${error.message}`, { cause: error })
          : handshakeError(address, error));
      };
      const onClose = (): void => finish(new TlsHandshakeError(`TLS handshake with ${address} failed: the server closed the connection`));
      // Not from inside the 'session' event: node is then still within OpenSSL's read, and a write made there is lost.
      const onAccepted = (): void => void setImmediate(finish, undefined);
      socket.on('error', onError);
      socket.once('close', onClose);
      // Registered before the handshake: node only asks OpenSSL for tickets when someone listens.
      socket.once('session', onAccepted);
      socket.once('secureConnect', () => {
        if (socket.getProtocol() !== 'TLSv1.3') {
          finish(undefined);
          return;
        }
        clearTimeout(timer);
        timer = setTimeout(onAccepted, VERDICT_GRACE_MS);
      });
      if (timeout !== undefined && timeout !== Infinity) {
        timer = setTimeout(() => finish(new ConnectError(`timed out after ${timeout} ms connecting to ${address}`)), timeout);
      }
    });
  },

  listen(address: string, onComm: (comm: Comm) => void, options?: ListenOptions): Promise<Listener> {
    let target: TlsTarget;
    try {
      target = tlsTarget(address, options?.security);
    } catch (error) {
      return Promise.reject(error);
    }
    const { security, host, port } = target;
    const commOptions: TcpCommOptions = {
      scheme: SCHEME,
      writeSliceBytes: TLS_WRITE_SLICE_BYTES,
      ...(options?.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
    };
    const server = tls.createServer({ ...security.serverOptions(), handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => {
      if (socket.remoteAddress === undefined) {
        socket.destroy();
        return;
      }
      let comm: TcpComm;
      try {
        comm = new TcpComm(socket, commOptions);
      } catch (error) {
        log.warn({ err: error }, 'could not set up an accepted connection');
        socket.destroy();
        return;
      }
      try {
        onComm(comm);
      } catch (error) {
        log.error({ err: error, peer: comm.peerAddress }, 'connection handler threw; closing the connection');
        void comm.close();
      }
    });
    // node destroys the socket itself; this is the one log line for the refusal.
    let listening = address;
    // Reading the address at accept caches it on the TCP socket, for the refusal below.
    server.on('connection', (raw: net.Socket) => void raw.remoteAddress);
    server.on('tlsClientError', (error, socket) => {
      const peer = peerOf(socket);
      const reason = reasonOf(error);
      log.warn({ peer, reason, code: (error as NodeJS.ErrnoException).code, listener: listening }, `refused a TLS connection from ${peer}: ${reason}`);
    });
    return new Promise<Listener>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: port ?? 0 }, () => {
        server.off('error', reject);
        server.on('error', (error) => log.error({ err: error, address }, 'listener error'));
        const bound = server.address() as net.AddressInfo;
        listening = formatTcpAddress(contactHost(host), bound.port, SCHEME);
        resolve(new ServerListener(listening, server));
      });
    });
  },
};
