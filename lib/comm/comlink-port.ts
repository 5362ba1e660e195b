/**
 * comlink over Node MessagePorts, made safe to depend on.
 *
 * comlink speaks the DOM endpoint shape (`addEventListener('message', e =>
 * e.data)`); Node ports emit the data itself. Its own node adapter cannot be
 * imported with correct types under NodeNext, so the few lines live here.
 *
 * comlink never rejects a call whose other side is gone (no timeouts, no
 * rejection when the thread dies or the port closes). `guardedRemote` wraps a
 * remote so that every call settles: with the answer, with `CommClosedError`
 * when the port closes, or with `TimeoutError` after the optional timeout.
 */
import type { MessagePort } from 'node:worker_threads';
import { wrap, type Endpoint, type Remote } from 'comlink';
import { CommClosedError, TimeoutError } from '../errors.js';

type DomListener = (event: { data: unknown }) => void;
type ListenerObject = { handleEvent(event: { data: unknown }): void };

/** A comlink Endpoint backed by a Node MessagePort. */
export function portEndpoint(port: MessagePort): Endpoint {
  const adapted = new WeakMap<object, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: readonly unknown[]) => {
      port.postMessage(message, transfer as Parameters<MessagePort['postMessage']>[1]);
    },
    addEventListener: (_type: string, listener: DomListener | ListenerObject) => {
      const handler = (data: unknown): void => {
        if (typeof listener === 'function') listener({ data });
        else listener.handleEvent({ data });
      };
      adapted.set(listener, handler);
      port.on('message', handler);
    },
    removeEventListener: (_type: string, listener: DomListener | ListenerObject) => {
      const handler = adapted.get(listener);
      if (handler === undefined) return;
      adapted.delete(listener);
      port.off('message', handler);
    },
    start: () => port.start(),
  } as unknown as Endpoint;
}

/** Promise-returning methods of T (what a guarded remote exposes). */
export type GuardedRemote<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

export interface GuardOptions {
  /** Per call, milliseconds; default none (a closed port still rejects every call). */
  timeoutMs?: number;
  /** What the other side is, for error messages. */
  peer?: string;
}

/**
 * A remote of `port`'s exposed object whose calls always settle. Pending
 * calls are tracked in one set (no per-call listeners on the port); when the
 * port closes they all reject and later calls reject at once.
 */
export function guardedRemote<T extends object>(port: MessagePort, options: GuardOptions = {}): GuardedRemote<T> {
  const remote = wrap<T>(portEndpoint(port)) as Remote<T>;
  const peer = options.peer ?? 'the other thread';
  const pending = new Set<(error: Error) => void>();
  let closedError: Error | undefined;
  port.once('close', () => {
    closedError = new CommClosedError(`${peer} closed its port`);
    for (const reject of pending) reject(closedError);
    pending.clear();
  });
  const call = (name: string, args: unknown[]): Promise<unknown> => {
    if (closedError !== undefined) return Promise.reject(closedError);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (): void => {
        pending.delete(reject);
        if (timer !== undefined) clearTimeout(timer);
      };
      pending.add(reject);
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          settle();
          reject(new TimeoutError(`${peer} did not answer ${name}() within ${options.timeoutMs} ms`));
        }, options.timeoutMs);
      }
      const method = (remote as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!;
      method(...args).then(
        (value) => { settle(); resolve(value); },
        (error: unknown) => { settle(); reject(error); },
      );
    });
  };
  return new Proxy({}, {
    get: (_target, name) => (typeof name === 'string' && name !== 'then' ? (...args: unknown[]) => call(name, args) : undefined),
  }) as GuardedRemote<T>;
}
