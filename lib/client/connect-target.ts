/** Where a client connects: an address, or an object that has one. */

/**
 * Where to connect: an address, or an object that has one (a LocalCluster or
 * a Scheduler). Such an object's `inprocAddress`, when it has one, is used
 * instead: the scheduler runs in this program, so no TCP is needed.
 */
export type ConnectTarget =
  | string
  | { readonly schedulerAddress: string; readonly inprocAddress?: string | undefined }
  | { readonly address: string; readonly inprocAddress?: string | undefined };

/** A bare `host:port` (as dworker takes it, and dask's Client) means `tcp://host:port`. */
export function addressOf(target: ConnectTarget): string {
  if (typeof target === 'string') {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return target;
    const bare = target.trim();
    if (/^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+):\d+$/i.test(bare)) return `tcp://${bare}`;
    throw new TypeError(`invalid scheduler address ${JSON.stringify(target)}: expected tcp://host:port or host:port, e.g. 127.0.0.1:8786`);
  }
  if (typeof target === 'object' && target !== null) {
    if ('inprocAddress' in target && typeof target.inprocAddress === 'string' && target.inprocAddress !== '') return target.inprocAddress;
    if ('schedulerAddress' in target && typeof target.schedulerAddress === 'string') return target.schedulerAddress;
    if ('address' in target && typeof target.address === 'string') return target.address;
  }
  throw new TypeError('Client.connect expects an address string, a LocalCluster or a Scheduler');
}
