/**
 * The client a primitive uses: the one in its `client` option (a
 * CoordinationClient, or a Client through the registered adapter), else the
 * default client the registered resolver finds (the newest Client; in a task,
 * the worker's client).
 */
import type { CoordinationClient } from './coordination-client.js';
import { NoClientError } from './errors.js';

export type DefaultClientResolver = () => CoordinationClient | undefined;
export type ClientAdapter = (client: object) => CoordinationClient | undefined;

let resolver: DefaultClientResolver | undefined;
let adapter: ClientAdapter | undefined;

/** Registers (or, with undefined, removes) the function that finds the default client. */
export function setDefaultClientResolver(fn: DefaultClientResolver | undefined): void {
  resolver = fn;
}

/** Registers (or removes) the function that turns a Client into a CoordinationClient. */
export function setClientAdapter(fn: ClientAdapter | undefined): void {
  adapter = fn;
}

function isCoordinationClient(value: object): value is CoordinationClient {
  return typeof (value as Partial<CoordinationClient>).schedulerCall === 'function';
}

/** The explicit client if given, else the default one; throws NoClientError when there is none. */
export function resolveClient(explicit?: object): CoordinationClient {
  if (explicit !== undefined) {
    if (isCoordinationClient(explicit)) return explicit;
    const adapted = adapter?.(explicit);
    if (adapted === undefined) {
      throw new TypeError('the client option must be a Client (or a CoordinationClient)');
    }
    return adapted;
  }
  const client = resolver?.();
  if (client === undefined) {
    throw new NoClientError(
      'No client to reach the scheduler: pass { client } to the primitive, or connect a Client first ' +
        '(inside a task the worker\'s client is used).',
    );
  }
  return client;
}
