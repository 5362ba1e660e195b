/**
 * Lets the primitives use a real Client: adapts it to CoordinationClient
 * (through the client's session, as published datasets do) and resolves the
 * default client. The lead calls `installClientAdapter()` once at package load.
 */
import { Client, sessionOf } from '../client/client.js';
import { defaultClient } from '../client/connected-clients.js';
import { isFuture } from '../client/future.js';
import type { OpDict } from '../protocol/messages.js';
import { decodeValue, encodeValue } from '../protocol/values.js';
import type { CoordinationClient } from './coordination-client.js';
import { setClientAdapter, setDefaultClientResolver } from './default-client.js';
import { currentTask } from '../task-context.js';

const adapted = new WeakMap<Client, CoordinationClient>();

export function coordinationClientOf(client: Client): CoordinationClient {
  let adapter = adapted.get(client);
  if (adapter !== undefined) return adapter;
  adapter = {
    get id() {
      return client.id;
    },
    schedulerCall: <T>(msg: object, options?: { timeout?: number | string }) =>
      sessionOf(client).call<T>(msg as OpDict, options),
    futureFromKey(key: string) {
      const session = sessionOf(client);
      const fresh = !session.states.has(key);
      const future = session.future(key);
      // The scheduler already counts this client as wanting the key (the
      // extension handed it over); saying so again only makes it report the status.
      if (fresh) session.desireKeys([key]);
      return future;
    },
    keyOf: (value: unknown) => (isFuture(value) ? value.key : undefined),
    encode: (value: unknown) => encodeValue(value),
    decode: (blob: Uint8Array) => decodeValue(blob),
  };
  adapted.set(client, adapter);
  return adapter;
}

/** Primitives accept a Client in their `client` option and fall back to the newest open Client. */
export function installClientAdapter(): void {
  setClientAdapter((candidate) => (candidate instanceof Client ? coordinationClientOf(candidate) : undefined));
  setDefaultClientResolver(() => {
    // Inside a task (or other code a worker runs): the worker's client (usable while it connects).
    const task = currentTask();
    if (task !== undefined) return coordinationClientOf(task.host.client());
    const client = defaultClient<Client>();
    return client === undefined ? undefined : coordinationClientOf(client);
  });
}
