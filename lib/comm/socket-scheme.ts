/**
 * Which socket scheme an actor listens with: `tls` once it holds TLS
 * credentials, else `tcp`; and the host of either kind of socket address.
 */
import { addressScheme } from './registry.js';
import type { Security } from './security.js';
import { parseTcpAddress } from './tcp.js';

export function socketScheme(security: Security | undefined): 'tcp' | 'tls' {
  return security?.hasCredentials === true ? 'tls' : 'tcp';
}

/** `host:port` as a listen address of that scheme (IPv6 hosts in brackets). */
export function socketAddress(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

/** Is this a tcp:// or tls:// address (one other machines can dial)? */
export function isSocketAddress(address: string): boolean {
  return address.startsWith('tcp://') || address.startsWith('tls://');
}

/** The host of a tcp:// or tls:// address; undefined for any other kind. */
export function socketHost(address: string): string | undefined {
  return isSocketAddress(address) ? parseTcpAddress(address, addressScheme(address)).host : undefined;
}
