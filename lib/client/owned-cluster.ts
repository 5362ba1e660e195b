/**
 * The cluster a `Client.connect()` without a target starts and owns. The
 * LocalCluster stands above this floor (actors/local-cluster.ts, an assembly
 * of actors), so the package root registers how to start one
 * (installClientPort) and actors/local-cluster.ts fills in its type here
 * through module augmentation: `client.cluster` is typed as a LocalCluster
 * without lib/client importing it.
 */
import { DistributedError } from '../errors.js';

/** What the client needs of the cluster it owns. */
export interface ClusterHandle {
  readonly schedulerAddress: string;
  close(): Promise<void>;
  /** Stop keeping the process alive (its owning client does that while it waits for something). */
  letProcessExit?(): void;
}

/** Augmented by actors/local-cluster.ts with `{ cluster: LocalCluster }`. */
export interface ClusterTypes {}
export type OwnedCluster = ClusterTypes extends { cluster: infer C } ? C & ClusterHandle : ClusterHandle;

export type LocalClusterStarter = () => Promise<OwnedCluster>;

let starter: LocalClusterStarter | undefined;

/** Registers how to start the in-process cluster (the package root does, at load). */
export function setLocalClusterStarter(start: LocalClusterStarter): void {
  starter = start;
}

/** Starts an in-process cluster (threads, no extra processes) for a client to own. */
export function startLocalCluster(): Promise<OwnedCluster> {
  if (starter === undefined) {
    return Promise.reject(new DistributedError("Client.connect() without a target needs the package root loaded: import from 'distributed-ts'"));
  }
  return starter();
}
