/**
 * What the scheduler shell (actors/scheduler.ts) offers its extensions, and
 * what an extension is: a set of op handlers plus a few hooks. The shell
 * routes each op to the handler that owns it and keeps the connections, the
 * pure SchedulerState and the worker registry; an extension (gather, data
 * movement, broadcast, datasets, restart, recovery, retirement, the
 * coordination primitives) does one kind of work through this host, as
 * lib/coordination/extension.ts does.
 */
import type { Logger } from 'pino';
import type { Peer } from '../../lib/comm/mailbox.js';
import type { SchedulerExtension as BaseExtension } from '../../lib/coordination/extension.js';
import type { OpDict } from '../../lib/protocol/messages.js';
import type { SchedulerMessages, SchedulerState, SettledKey } from '../../lib/scheduler/state.js';

export interface SchedulerHost {
  /** The pure state: read it freely; change it only through its stimuli, then `sendOut`. */
  readonly state: SchedulerState;
  readonly log: Logger;
  /** Where clients and workers connect. */
  readonly address: string;
  /** Sends what a stimulus produced to the peers it names (and wakes those waiting on settled keys). */
  sendOut(out: SchedulerMessages): void;
  /** The stimulus id a message carries, or a fresh one named after its op. */
  stimulus(msg: { readonly op: string; readonly stimulusId?: unknown }): string;
  /** Resolves once `key` is in memory, erred or forgotten. */
  whenSettled(key: string): Promise<SettledKey>;
  /** Connections of registered workers (by address) and clients (by id). */
  readonly workerPeers: ReadonlyMap<string, Peer>;
  readonly clientPeers: ReadonlyMap<string, Peer>;
  /** Resolves once at least `n` workers run; TimeoutError after `timeout` ms (undefined: wait on). */
  workersAtLeast(n: number, timeout: number | undefined): Promise<void>;
  /** Forgets a worker; returns its connection, if any, for the caller to close. Idempotent. */
  dropWorker(address: string, expected: boolean, stimulusId: string): Peer | undefined;
  /** One RPC to a nanny over a connection of its own. */
  callNanny<T>(address: string, msg: OpDict, timeout: number | string): Promise<T>;
  /** Closes a worker's process: through its nanny when it has one (which then does not restart it), else by telling the worker. */
  closeWorkerProcess(nanny: string | undefined, peer: Peer | undefined, reason: string, timeout: string): Promise<void>;
  /** Closes the scheduler. */
  close(): Promise<void>;
}

export interface SchedulerExtension extends BaseExtension {
  /** A worker registered (before any compute-task reaches it on `peer`). */
  workerAdded?(address: string, peer: Peer): void;
  /** client.restart(): every task was forgotten. */
  restarted?(): void;
}
