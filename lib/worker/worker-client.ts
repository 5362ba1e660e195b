/**
 * The client a worker's tasks share (one per thread): connected on first use
 * from where the code runs, never registered as the process's default client
 * (so an in-process worker's client does not stand in for the user's).
 *
 * Its id is chosen before connecting, so the coordination primitives can use
 * it at once: their leases name it, and their first request waits for the
 * connection.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '../client/client.js';
import type { CoordinationClient } from '../coordination/coordination-client.js';
import { DistributedError } from '../errors.js';
import type { Blob, CoordinationOps } from '../protocol/messages.js';
import { decodeValue, encodeValue } from '../protocol/values.js';

export class WorkerClient {
  readonly id = `Client-worker-${randomUUID()}`;
  private connecting: Promise<Client> | undefined;
  private connected: Client | undefined;
  private coordination: CoordinationClient | undefined;
  private closed = false;

  constructor(
    private readonly schedulerAddress: string,
    private readonly name: string,
  ) {}

  /** The connected client (connecting it on the first call). */
  client(): Promise<Client> {
    if (this.closed) return Promise.reject(new DistributedError('the worker is closing: its client is gone'));
    this.connecting ??= this.connect();
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    try {
      const { Client } = await import('../client/client.js');
      const { unregisterDefaultClient } = await import('../client/default-client.js');
      const client = await Client.connect(this.schedulerAddress, { id: this.id, name: this.name });
      unregisterDefaultClient(client);
      if (this.closed) {
        await client.close();
        throw new DistributedError('the worker is closing: its client is gone');
      }
      this.connected = client;
      return client;
    } catch (error) {
      this.connecting = undefined;
      throw error;
    }
  }

  /** A CoordinationClient for this client, usable before it has connected. */
  coordinationClient(): CoordinationClient {
    if (this.coordination !== undefined) return this.coordination;
    // The adapter of the real client, once there is one (imported with it, so the thread loads it only when used).
    let adapted: CoordinationClient | undefined;
    const ready = async (): Promise<CoordinationClient> => {
      if (adapted !== undefined) return adapted;
      const client = await this.client();
      const { coordinationClientOf } = await import('../coordination/client-adapter.js');
      adapted = coordinationClientOf(client);
      return adapted;
    };
    const connectedAdapter = (what: string): CoordinationClient => {
      if (adapted === undefined) throw new DistributedError(`${what}: the worker's client is not connected yet`);
      return adapted;
    };
    this.coordination = {
      id: this.id,
      schedulerCall: async <T>(msg: CoordinationOps, options?: { timeout?: number | string }) =>
        (await ready()).schedulerCall<T>(msg, options),
      futureFromKey: (key: string) => connectedAdapter('futureFromKey').futureFromKey(key),
      keyOf: (value: unknown) => (adapted !== undefined ? adapted.keyOf(value) : keyOfFuture(value)),
      encode: (value: unknown) => encodeValue(value),
      decode: (blob: Blob) => decodeValue(blob),
    };
    return this.coordination;
  }

  /** Closes the client if it connected. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.connected ?? (await this.connecting?.catch(() => undefined));
    await client?.close();
  }
}

/** Duck-typed: a Future has a string `key` and a `result` method (no import of the client here). */
function keyOfFuture(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as { key?: unknown; result?: unknown };
  return typeof candidate.key === 'string' && typeof candidate.result === 'function' ? candidate.key : undefined;
}
