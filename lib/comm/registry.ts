/**
 * Dialing and listening by address: the scheme (`tcp://`, `tls://`,
 * `inproc://`) picks the Transport. Connecting never hangs: it succeeds, or
 * fails with a ConnectError naming the address, within the connect timeout
 * (default 10 s).
 *
 * Security: a caller's `security` (else the program's, for its credentials
 * only) goes to the transport; a caller's `requireEncryption` refuses tcp://
 * here, before any socket exists.
 */
import { ConnectError, EncryptionRequiredError, SecurityError } from '../errors.js';
import { parseDuration } from '../units.js';
import type { Comm, ConnectOptions, Listener, ListenOptions, Transport } from './comm.js';
import { inprocTransport } from './inproc.js';
import { programSecurity } from './program-security.js';
import { tcpTransport } from './tcp.js';
import { tlsTransport } from './tls.js';

export const DEFAULT_CONNECT_TIMEOUT = '10s';

const transports = new Map<string, Transport>();

/** Make a transport available under its scheme (replacing any previous one). */
export function registerTransport(transport: Transport): void {
  transports.set(transport.scheme, transport);
}

registerTransport(tcpTransport);
registerTransport(tlsTransport);
registerTransport(inprocTransport);

/** Throws EncryptionRequiredError for a plain-TCP address when the caller's Security requires encryption. */
export function checkEncryption(address: string, options: { security?: ConnectOptions['security'] } | undefined, doing: string): void {
  if (options?.security?.requireEncryption === true && addressScheme(address) === 'tcp') {
    throw new EncryptionRequiredError(`refusing to ${doing} ${address}: encryption is required (Security requireEncryption); use a tls:// address`);
  }
}

function withCredentials<T extends { security?: ConnectOptions['security'] }>(options: T): T {
  if (options.security !== undefined) return options;
  const program = programSecurity();
  return program === undefined ? options : { ...options, security: program };
}

/** The scheme of an address: 'tcp' for 'tcp://127.0.0.1:8786'. */
export function addressScheme(address: string): string {
  if (typeof address !== 'string') throw new TypeError(`address must be a string, got ${typeof address}`);
  const match = /^([a-z][a-z0-9+.-]*):\/\//i.exec(address);
  if (match === null) {
    throw new TypeError(`invalid address ${JSON.stringify(address)}: expected scheme://location, e.g. tcp://127.0.0.1:8786`);
  }
  return match[1]!.toLowerCase();
}

/** The transport serving an address. */
export function transportFor(address: string): Transport {
  const scheme = addressScheme(address);
  const transport = transports.get(scheme);
  if (transport === undefined) {
    const known = [...transports.keys()].map((s) => `${s}://`).join(', ');
    throw new TypeError(`unknown address scheme ${JSON.stringify(`${scheme}://`)} in ${JSON.stringify(address)} (known: ${known})`);
  }
  return transport;
}

/** Dial `address`. Rejects with ConnectError (naming the address) on failure or after `options.timeout`. */
export async function connect(address: string, options: ConnectOptions = {}): Promise<Comm> {
  const transport = transportFor(address);
  checkEncryption(address, options, 'connect to');
  const timeout = parseDuration(options.timeout ?? DEFAULT_CONNECT_TIMEOUT);
  const attempt = transport.connect(address, withCredentials({ ...options, timeout }));
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new ConnectError(`timed out after ${timeout} ms connecting to ${address}`));
    }, timeout);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } catch (error) {
    if (timedOut) {
      // The transport may still succeed later: close what it produces.
      attempt.then((comm) => comm.close(), () => undefined);
      throw error;
    }
    if (error instanceof ConnectError || error instanceof TypeError || error instanceof SecurityError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new ConnectError(`could not connect to ${address}: ${message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Listen on `address`; `onComm` receives every accepted comm. */
export function listen(address: string, onComm: (comm: Comm) => void, options?: ListenOptions): Promise<Listener> {
  try {
    const transport = transportFor(address);
    checkEncryption(address, options, 'listen on');
    return transport.listen(address, onComm, withCredentials(options ?? {}));
  } catch (error) {
    return Promise.reject(error);
  }
}
