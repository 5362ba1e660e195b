/**
 * `Actor<T>`: the proxy a client (or a task) gets for an actor instance.
 * Method calls and attribute reads go straight to the worker holding the
 * instance (`actor_execute` / `actor_attribute` RPCs over one cached
 * connection per worker address), never through the scheduler.
 *
 * A proxy is not thenable (`await proxy` gives the proxy); `await proxy.attr`
 * reads an attribute (each access is a fresh thenable). The proxy encodes as
 * its handle (lib/protocol/actor-ref.ts), so it can be passed to tasks and
 * put in queues and variables.
 *
 * If the connection to the holding worker fails or closes, calls reject with
 * ActorWorkerLostError: actors are never recomputed.
 */
import { inspect } from 'node:util';
import { connect } from '../comm/registry.js';
import { RpcChannel } from '../comm/rpc.js';
import { ActorWorkerLostError, CommClosedError, ConnectError } from '../errors.js';
import { ActorRef, actorRefOf, registerActorStandIn, setActorMaterializer } from '../protocol/actor-ref.js';
import type { ActorAttributeMsg, ActorExecuteMsg, Blob } from '../protocol/messages.js';
import { decodeValue, encodeValue } from '../protocol/values.js';

/** Methods become calls returning promises of their results; other members become awaitable reads. */
export type Actor<T> = {
  readonly [K in keyof T as K extends string ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : PromiseLike<Awaited<T[K]>>;
};

const channels = new Map<string, Promise<RpcChannel>>();
/** The channels of `channels` that are open: calls on them skip awaiting the connection. */
const openChannels = new Map<string, RpcChannel>();

/** One connection per worker address, shared by every proxy in this thread; it never keeps the process alive. */
function channelTo(address: string): Promise<RpcChannel> {
  let channel = channels.get(address);
  if (channel === undefined) {
    const opening: Promise<RpcChannel> = connect(address).then(
      (comm) => {
        comm.unref?.();
        const rpc: RpcChannel = new RpcChannel(comm, {
          onClose: () => {
            if (channels.get(address) === opening) channels.delete(address);
            if (openChannels.get(address) === rpc) openChannels.delete(address);
          },
        });
        if (channels.get(address) === opening && !rpc.closed) openChannels.set(address, rpc);
        return rpc;
      },
      (error: unknown) => {
        if (channels.get(address) === opening) channels.delete(address);
        throw error;
      },
    );
    channels.set(address, (channel = opening));
  }
  return channel;
}

function lost(ref: ActorRef, cause: unknown): ActorWorkerLostError {
  return new ActorWorkerLostError(`the worker holding actor ${ref.key} (${ref.className}) was lost: ${ref.address} cannot be reached`, { cause });
}

/**
 * One call as a single promise chain (no async wrappers): calls are the hot
 * path, and every extra promise and microtask hop shows in their latency.
 */
function actorCall(ref: ActorRef, msg: ActorExecuteMsg | ActorAttributeMsg): Promise<unknown> {
  const open = openChannels.get(ref.address);
  if (open !== undefined) return callOn(open, ref, msg);
  return channelTo(ref.address).then(
    (channel) => callOn(channel, ref, msg),
    (error: unknown) => {
      throw lost(ref, error);
    },
  );
}

function callOn(channel: RpcChannel, ref: ActorRef, msg: ActorExecuteMsg | ActorAttributeMsg): Promise<unknown> {
  return channel.call<Blob>(msg).then((reply) => decodeValue(reply), (error: unknown) => {
    if (error instanceof CommClosedError || error instanceof ConnectError) throw lost(ref, error);
    throw error;
  });
}

/** An `Actor<T>` proxy for the instance `ref` names. */
export function actorProxy<T = unknown>(ref: ActorRef): Actor<T> {
  const methods = new Set(ref.methods);
  const calls = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  const describe = (): string => `<Actor: ${ref.className}, key=${ref.key}, worker=${ref.address}>`;
  const methodCall = (method: string): ((...args: unknown[]) => Promise<unknown>) => {
    let call = calls.get(method);
    if (call === undefined) {
      call = (...args: unknown[]) => {
        let encoded: Blob;
        try {
          encoded = encodeValue(args);
        } catch (error) {
          return Promise.reject(error);
        }
        return actorCall(ref, { op: 'actor_execute', key: ref.key, method, args: encoded });
      };
      calls.set(method, call);
    }
    return call;
  };
  const attribute = (name: string): PromiseLike<unknown> => ({
    then: (onFulfilled, onRejected) => actorCall(ref, { op: 'actor_attribute', key: ref.key, name }).then(onFulfilled, onRejected),
  });
  const proxy = new Proxy(Object.create(ActorRef.prototype) as object, {
    get(_target, name) {
      if (typeof name === 'symbol') {
        if (name === inspect.custom) return describe;
        if (name === Symbol.toStringTag) return 'Actor';
        return undefined;
      }
      // Not thenable (await gives the proxy itself); `constructor` lets msgpackr encode it as its handle.
      if (name === 'then') return undefined;
      if (name === 'constructor') return ActorRef;
      if (name === 'toString') return describe;
      if (methods.has(name)) return methodCall(name);
      return attribute(name);
    },
    has: (_target, name) => typeof name === 'string' && methods.has(name),
    set() {
      throw new TypeError(`cannot assign to an attribute of actor ${ref.key} from outside: call one of its methods`);
    },
  });
  registerActorStandIn(proxy, ref);
  return proxy as Actor<T>;
}

/**
 * The handle behind an actor proxy: `{ key, address, className, methods }`; undefined for anything else.
 *
 * @example
 * ```ts
 * const counter = actorHandle<Counter>(future);   // the proxy of an actor future
 * await counter.increment();
 * ```
 */
export function actorHandle(value: unknown): ActorRef | undefined {
  return actorRefOf(value);
}

/**
 * Decoded actor handles become proxies from now on, in this thread. Called
 * once per thread by installClientPort (package root, thread entry).
 */
export function installActorProxy(): void {
  setActorMaterializer((ref) => actorProxy(ref));
}
