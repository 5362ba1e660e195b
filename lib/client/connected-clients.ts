/**
 * The client used when none is named: the most recently connected one that
 * is still open (dask's default client). Coordination primitives and
 * `getClient()` fall back to it.
 */

interface ClosableClient {
  readonly status: 'running' | 'closed';
}

const connected: ClosableClient[] = [];

export function registerDefaultClient(client: ClosableClient): void {
  connected.push(client);
}

export function unregisterDefaultClient(client: ClosableClient): void {
  const index = connected.lastIndexOf(client);
  if (index >= 0) connected.splice(index, 1);
}

/** The newest open client, if any. */
export function defaultClient<C extends ClosableClient>(): C | undefined {
  for (let i = connected.length - 1; i >= 0; i--) {
    const client = connected[i]!;
    if (client.status === 'running') return client as C;
  }
  return undefined;
}
