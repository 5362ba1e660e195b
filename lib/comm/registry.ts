/**
 * Dialing and listening by address: the scheme (`tcp://`, `inproc://`) picks
 * the Transport. Connecting never hangs: it succeeds, or fails with a
 * ConnectError naming the address, within the connect timeout (default 10 s).
 */
import { ConnectError } from '../errors.js';
import { parseDuration } from '../units.js';
import type { Comm, ConnectOptions, Listener, ListenOptions, Transport } from './comm.js';
import { inprocTransport } from './inproc.js';
import { tcpTransport } from './tcp.js';

export const DEFAULT_CONNECT_TIMEOUT = '10s';

const transports = new Map<string, Transport>();

/** Make a transport available under its scheme (replacing any previous one). */
export function registerTransport(transport: Transport): void {
  transports.set(transport.scheme, transport);
}

registerTransport(tcpTransport);
registerTransport(inprocTransport);

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
  const timeout = parseDuration(options.timeout ?? DEFAULT_CONNECT_TIMEOUT);
  const attempt = transport.connect(address, { ...options, timeout });
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
    if (error instanceof ConnectError || error instanceof TypeError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new ConnectError(`could not connect to ${address}: ${message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Listen on `address`; `onComm` receives every accepted comm. */
export function listen(address: string, onComm: (comm: Comm) => void, options?: ListenOptions): Promise<Listener> {
  try {
    return transportFor(address).listen(address, onComm, options);
  } catch (error) {
    return Promise.reject(error);
  }
}
