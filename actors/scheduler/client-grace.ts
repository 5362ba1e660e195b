/**
 * A grace period for clients whose connection dropped (dask #5667): a
 * connection that closes without `close-client` may be a blip, and the client
 * is coming back (lib/client/session.ts reconnects within its
 * reconnectTimeout). For as long as it said it would try, the scheduler keeps
 * its wanted keys, its leases and its subscriptions; its requests in waiting
 * are dropped (it asks again). Back in time, it finds its futures where they
 * were; not back, it is released as a closed client is.
 *
 * A client living in a worker (a task's `getClient()`) ends with its worker:
 * when that worker is gone, so is the grace.
 */
import type { Logger } from 'pino';
import type { ExtensionHandler } from '../../lib/coordination/extension.js';
import type { OpDict } from '../../lib/protocol/messages.js';
import { ALL_TOPIC } from '../../lib/scheduler/events.js';
import { clientGraceExpiredEvent, clientGraceStartedEvent, RECOVERY_TOPIC, type RecoveryEvent } from '../../lib/scheduler/recovery-notes.js';

export interface ClientGraceHost {
  readonly log: Logger;
  /** Into the scheduler's own inbox (the timer's expiry is handled in order with everything else). */
  post(msg: OpDict): void;
  /** Releases the client for good: its keys, leases, subscriptions, plugins' removeClient. */
  forgetClient(client: string, stimulusName: string): void;
  /** Drops the client's parked requests, keeping what it holds. */
  disconnected(client: string): void;
  /** Keys the client wants (for the report). */
  keysOf(client: string): number;
  workerKnown(address: string): boolean;
  logEvent(topic: string[], msg: RecoveryEvent): void;
}

export interface ClientGraceOptions {
  /** At most this long, whatever a client announces (ms; undefined: as long as the client says). */
  capMs: number | undefined;
}

interface Announced {
  graceMs: number;
  worker: string | undefined;
}

interface Waiting {
  token: number;
  timer: NodeJS.Timeout;
  graceMs: number;
  worker: string | undefined;
}

export interface ClientGrace {
  readonly handlers: Record<string, ExtensionHandler>;
  /** register-client: what the client announced (`reconnectTimeout` ms, `worker`); ends a grace it was in. True when it was in one. */
  registered(client: string, msg: { readonly reconnectTimeout?: unknown; readonly worker?: unknown }): boolean;
  /** Its connection closed without close-client: wait for it, or forget it at once. */
  connectionLost(client: string): void;
  /** close-client: no grace, and nothing to wait for. */
  closed(client: string): void;
  /** A worker left: clients living in it are not coming back. */
  workerGone(address: string): void;
  /** Clients being waited for. */
  readonly waiting: ReadonlySet<string>;
  close(): void;
}

export function createClientGrace(host: ClientGraceHost, options: ClientGraceOptions): ClientGrace {
  const announced = new Map<string, Announced>();
  const waiting = new Map<string, Waiting>();
  let tokens = 0;

  function graceOf(entry: Announced | undefined): number {
    const asked = entry?.graceMs ?? 0;
    return options.capMs === undefined ? asked : Math.min(asked, options.capMs);
  }

  function stopWaiting(client: string): Waiting | undefined {
    const entry = waiting.get(client);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    waiting.delete(client);
    return entry;
  }

  return {
    handlers: {
      'client-grace-expired': (msg, from) => {
        if (from !== undefined) return;
        const client = String(msg.client);
        const entry = waiting.get(client);
        if (entry === undefined || entry.token !== msg.token) return;
        stopWaiting(client);
        announced.delete(client);
        const event = clientGraceExpiredEvent(client, entry.graceMs);
        host.log.warn({ client, graceMs: entry.graceMs }, event.text);
        host.logEvent([RECOVERY_TOPIC, ALL_TOPIC], event);
        host.forgetClient(client, 'client-grace-expired');
      },
    },
    registered(client, msg) {
      const ms = msg.reconnectTimeout;
      const worker = typeof msg.worker === 'string' && msg.worker !== '' ? msg.worker : undefined;
      announced.set(client, { graceMs: typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : 0, worker });
      return stopWaiting(client) !== undefined;
    },
    connectionLost(client) {
      const entry = announced.get(client);
      const graceMs = graceOf(entry);
      const worker = entry?.worker;
      if (graceMs <= 0 || (worker !== undefined && !host.workerKnown(worker))) {
        announced.delete(client);
        host.forgetClient(client, 'client-gone');
        return;
      }
      stopWaiting(client);
      host.disconnected(client);
      const token = ++tokens;
      const timer = setTimeout(() => host.post({ op: 'client-grace-expired', client, token }), graceMs);
      timer.unref();
      waiting.set(client, { token, timer, graceMs, worker });
      const event = clientGraceStartedEvent(client, graceMs, host.keysOf(client));
      host.log.info({ client, graceMs }, event.text);
      host.logEvent([RECOVERY_TOPIC, ALL_TOPIC], event);
    },
    closed(client) {
      stopWaiting(client);
      announced.delete(client);
    },
    workerGone(address) {
      for (const [client, entry] of [...waiting]) {
        if (entry.worker !== address) continue;
        stopWaiting(client);
        announced.delete(client);
        host.log.info({ client, worker: address }, `client ${client} lived in worker ${address}, which is gone: released`);
        host.forgetClient(client, 'client-worker-gone');
      }
    },
    get waiting() {
      return new Set(waiting.keys());
    },
    close() {
      for (const entry of waiting.values()) clearTimeout(entry.timer);
      waiting.clear();
      announced.clear();
    },
  };
}
