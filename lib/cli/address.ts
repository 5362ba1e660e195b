/** Addresses and ports as people type them on a command line. */
import { UsageError } from './usage-error.js';

export const DEFAULT_SCHEDULER_PORT = 8786;

/** A TCP port number; `allowZero` for listening (0 = any free port). */
export function parsePort(text: string, what: string, allowZero = true): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what} must be a port number, got ${JSON.stringify(text)}`);
  const port = Number(text.trim());
  if (port > 65535 || (!allowZero && port === 0)) {
    throw new UsageError(`${what} must be between ${allowZero ? 0 : 1} and 65535, got ${port}`);
  }
  return port;
}

/**
 * `tcp://host:port`, `tls://host:port`, `host:port`, `host` (port 8786) or
 * `[v6]:port` -> `SCHEME://host:port` (`defaultScheme` when none is written).
 * Other schemes are refused: the processes of a cluster talk TCP or TLS.
 */
export function parseSchedulerAddress(text: string, defaultScheme: 'tcp' | 'tls' = 'tcp'): string {
  const trimmed = text.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  const named = scheme?.[1]!.toLowerCase();
  if (named !== undefined && named !== 'tcp' && named !== 'tls') {
    throw new UsageError(`scheduler address must be tcp://host:port or tls://host:port, got ${JSON.stringify(text)}`);
  }
  const location = scheme === null ? trimmed : trimmed.slice(scheme[0].length);
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::([^:]*))?$/i.exec(location);
  if (match === null || location === '') {
    throw new UsageError(`invalid scheduler address ${JSON.stringify(text)}: expected tcp://host:port, e.g. tcp://127.0.0.1:8786`);
  }
  const port = match[2] === undefined ? DEFAULT_SCHEDULER_PORT : parsePort(match[2], 'the scheduler port', false);
  return `${named ?? defaultScheme}://${match[1]!}:${port}`;
}

/** A host name or IP to bind (no scheme, no port). */
export function parseHost(text: string): string {
  const host = text.trim();
  if (!/^(\[[0-9a-f:.]+\]|[0-9a-f:]*:[0-9a-f:.]*|[a-z0-9_.-]+)$/i.test(host)) {
    throw new UsageError(`--host must be a host name or IP address, got ${JSON.stringify(text)}`);
  }
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** `tcp://host:port` (or another socket scheme) for listening on host (IPv6 hosts in brackets). */
export function tcpAddress(host: string, port: number, scheme: 'tcp' | 'tls' = 'tcp'): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
