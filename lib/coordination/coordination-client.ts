/**
 * What the coordination primitives need from a client, and nothing more, so
 * they do not depend on the Client's internals (the lead adapts Client to it).
 */
import type { Blob, CoordinationItem, CoordinationOps } from '../protocol/messages.js';

export interface CoordinationClient {
  /** The client id the scheduler knows; leases and parked requests belong to it. */
  readonly id: string;
  /** RPC to the scheduler; rejects with the scheduler's error (or CommClosedError). */
  schedulerCall<T>(msg: CoordinationOps, options?: { timeout?: number | string }): Promise<T>;
  /**
   * A Future of this client for a key the scheduler already counts as wanted
   * by this client (the scheduler registered the want when it handed the key over).
   */
  futureFromKey(key: string): unknown;
  /** The key when `value` is a Future (of any client), else undefined. */
  keyOf(value: unknown): string | undefined;
  encode(value: unknown): Blob;
  decode(blob: Blob): unknown;
}

/** A Future travels as its key (the scheduler keeps it alive); anything else as an encoded Blob. */
export function toItem(client: CoordinationClient, value: unknown): CoordinationItem {
  const key = client.keyOf(value);
  return key === undefined ? { type: 'value', value: client.encode(value) } : { type: 'future', key };
}

export function fromItem(client: CoordinationClient, item: CoordinationItem): unknown {
  return item.type === 'future' ? client.futureFromKey(item.key) : client.decode(item.value);
}
