/**
 * What the client side registers below and above itself at package load, so
 * that lower floors reach clients without importing them (dependency
 * inversion): the task context's client port (a worker's tasks get their
 * client through it) and the actor proxy. The package root (lib/index.ts)
 * and the worker thread entry call `installClientPort` once per thread; the
 * root also hands over how `Client.connect()` with no target starts a
 * LocalCluster, which stands above this floor (actors/local-cluster.ts).
 */
import { registerClientPort } from '../task-context.js';
import { installActorProxy } from './actor.js';
import { Client } from './client.js';
import { setLocalClusterStarter, type LocalClusterStarter } from './owned-cluster.js';
import { defaultClient } from './connected-clients.js';

declare module '../task-context.js' {
  interface ClientTypes {
    client: Client;
  }
}

export interface ClientPortOptions {
  /** Starts the in-process cluster a `Client.connect()` without a target owns. */
  startLocalCluster?: LocalClusterStarter;
}

export function installClientPort(options: ClientPortOptions = {}): void {
  registerClientPort({
    workerClient: (schedulerAddress, name, worker) => Client.connectInBackground(schedulerAddress, { name }, worker),
    defaultClient: () => defaultClient<Client>(),
  });
  installActorProxy();
  if (options.startLocalCluster !== undefined) setLocalClusterStarter(options.startLocalCluster);
}
