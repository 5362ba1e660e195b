/**
 * What a listener bound to every interface (0.0.0.0 or ::) tells others to
 * dial. The wildcard itself means "this machine" only to this machine, so a
 * worker registering as tcp://0.0.0.0:PORT could not be reached by its peers:
 * it advertises one of the machine's external addresses instead, as dask's
 * get_ip() does.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/**
 * `host` itself, or for a wildcard bind the first external IPv4 address of
 * this machine (a `::` socket accepts IPv4 too), else its first global IPv6
 * address, else loopback.
 */
export function contactHost(host: string, interfaces: Interfaces = networkInterfaces()): string {
  if (!isWildcardHost(host)) return host;
  const external: NetworkInterfaceInfo[] = [];
  for (const infos of Object.values(interfaces)) for (const info of infos ?? []) if (!info.internal) external.push(info);
  const v4 = external.find((info) => info.family === 'IPv4');
  if (v4 !== undefined) return v4.address;
  // Link-local addresses (fe80::/10) need a zone to be dialled: not something to hand to other machines.
  const v6 = external.find((info) => info.family === 'IPv6' && !/^fe[89ab]/i.test(info.address));
  if (v6 !== undefined) return v6.address;
  return host === '0.0.0.0' ? '127.0.0.1' : '::1';
}
