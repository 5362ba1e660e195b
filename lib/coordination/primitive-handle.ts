/** What every client-side primitive shares: a name and a lazily resolved client. */
import { randomUUID } from 'node:crypto';
import { CommClosedError, TimeoutError } from '../errors.js';
import type { CoordinationOps } from '../protocol/messages.js';
import { optionalDuration } from '../units.js';
import type { Client } from '../client/client.js';
import type { CoordinationClient } from './coordination-client.js';
import { resolveClient } from './default-client.js';

/**
 * The option every coordination primitive takes: which client to use (default: the task's, or the newest connected one).
 */
export interface PrimitiveOptions {
  /** Default: the default client (see default-client.ts), resolved on first use. */
  client?: Client | CoordinationClient;
}

export interface TimeoutOption {
  /** milliseconds or a string with a unit; default: wait forever */
  timeout?: number | string;
}

export function randomName(prefix: string): string {
  return `${prefix}-${randomUUID().replaceAll('-', '')}`;
}

/** Scheduler replies of requests that can time out or be dropped. */
export type WaitReply<T> = ({ status: 'OK' } & T) | { status: 'timeout' } | { status: 'cancelled' };

export abstract class PrimitiveHandle {
  readonly name: string;
  private readonly explicitClient: Client | CoordinationClient | undefined;
  private boundClient: CoordinationClient | undefined;

  protected constructor(kind: string, name: string | undefined, options: PrimitiveOptions) {
    if (name !== undefined && (typeof name !== 'string' || name === '')) {
      throw new TypeError(`${kind} name must be a non-empty string`);
    }
    this.name = name ?? randomName(kind);
    this.explicitClient = options.client;
  }

  protected get client(): CoordinationClient {
    this.boundClient ??= resolveClient(this.explicitClient);
    return this.boundClient;
  }

  protected call<T>(msg: CoordinationOps): Promise<T> {
    return this.client.schedulerCall<T>(msg);
  }

  /** The `ok` part of a WaitReply, or TimeoutError / CommClosedError. */
  protected unwrap<T>(reply: WaitReply<T>, what: string, timeoutMs: number | undefined): T {
    if (reply.status === 'OK') return reply;
    if (reply.status === 'timeout') throw new TimeoutError(`${what} timed out after ${timeoutMs ?? 0} ms`);
    throw new CommClosedError(`${what} was dropped by the scheduler (closing)`);
  }
}

export function timeoutMs(options: TimeoutOption): number | undefined {
  return optionalDuration(options.timeout);
}
