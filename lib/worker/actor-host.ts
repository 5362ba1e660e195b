/**
 * Actor instances a worker holds, on its main thread. An actor task
 * constructs the instance here (not in a pool thread: the instance must stay
 * reachable between calls) and its value is the instance's handle
 * (lib/protocol/actor-ref.ts). Calls arrive as `actor_execute` /
 * `actor_attribute` RPCs straight from clients and tasks, in the worker's
 * inbox order: synchronous methods run one at a time in arrival order; async
 * methods may interleave at their await points, as in dask.
 *
 * Methods run in a task context without a slot (getWorker, getClient work).
 */
import { performance } from 'node:perf_hooks';
import { ActorWorkerLostError, SerializationError } from '../errors.js';
import { ActorRef } from '../protocol/actor-ref.js';
import { serializeError } from '../protocol/errors.js';
import type { ActorAttributeMsg, ActorExecuteMsg, Blob } from '../protocol/messages.js';
import { decodeValue, encodeValue, typeName } from '../protocol/values.js';
import { loadFunction, loadedFunction } from '../task-function.js';
import { decodeArguments, wallClock, type TaskOutcome, type TaskToRun } from './execute.js';
import { runInTask, type TaskHost } from '../task-context.js';

/** Names of the methods an instance answers (its class chain's and its own function-valued fields). */
export function methodNames(instance: object): string[] {
  const names = new Set<string>();
  for (const name of Object.keys(instance)) {
    if (typeof (instance as Record<string, unknown>)[name] === 'function') names.add(name);
  }
  for (let proto: object | null = Object.getPrototypeOf(instance); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor') continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (descriptor !== undefined && typeof descriptor.value === 'function') names.add(name);
    }
  }
  return [...names];
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class ActorHost {
  private readonly instances = new Map<string, object>();

  constructor(
    private readonly address: string,
    private readonly host: TaskHost,
  ) {}

  get size(): number {
    return this.instances.size;
  }

  has(key: string): boolean {
    return this.instances.has(key);
  }

  /** Runs an actor task: constructs the instance, keeps it, and yields its handle as the task's value. */
  async create(task: TaskToRun): Promise<TaskOutcome> {
    const start = performance.now();
    try {
      const cls = loadedFunction(task.runSpec.fn) ?? (await loadFunction(task.runSpec.fn));
      const args = decodeArguments(task);
      const instance: unknown = runInTask(this.host, undefined, () => Reflect.construct(cls, args));
      if (typeof instance !== 'object' || instance === null) {
        throw new SerializationError(`actor ${task.key}: constructing ${task.runSpec.fn.name} gave ${typeName(instance)}, not an object`);
      }
      const ref = new ActorRef(task.key, this.address, typeName(instance), methodNames(instance));
      const value = encodeValue(ref);
      this.instances.set(task.key, instance);
      return { key: task.key, ok: true, value, type: 'Actor', nbytes: value.byteLength, duration: performance.now() - start, start: wallClock(start), thread: 0 };
    } catch (error) {
      return { key: task.key, ok: false, error: serializeError(error), duration: performance.now() - start, start: wallClock(start), thread: 0 };
    }
  }

  /** `actor_execute`: the method's encoded result (a promise of it for async methods); its error is thrown. */
  execute(msg: ActorExecuteMsg): Blob | Promise<Blob> {
    const instance = this.instance(msg.key);
    if (typeof msg.method !== 'string') throw new TypeError('actor_execute: method must be a string');
    const method = (instance as Record<string, unknown>)[msg.method];
    if (msg.method === 'constructor' || typeof method !== 'function') {
      throw new TypeError(`actor ${msg.key} (${typeName(instance)}) has no method ${JSON.stringify(msg.method)}`);
    }
    if (!(msg.args instanceof Uint8Array)) throw new TypeError('actor_execute: args must be bytes');
    const args = decodeValue(msg.args);
    if (!Array.isArray(args)) throw new SerializationError('actor_execute: arguments must encode an array');
    const result: unknown = runInTask(this.host, undefined, () => (method as (...a: unknown[]) => unknown).apply(instance, args));
    return isPromiseLike(result) ? Promise.resolve(result).then(encodeValue) : encodeValue(result);
  }

  /** `actor_attribute`: the attribute's encoded value. */
  attribute(msg: ActorAttributeMsg): Blob {
    const instance = this.instance(msg.key);
    if (typeof msg.name !== 'string') throw new TypeError('actor_attribute: name must be a string');
    return encodeValue((instance as Record<string, unknown>)[msg.name]);
  }

  /** Drops the instances of `keys` the worker no longer holds data for. */
  sweep(keys: readonly string[], held: { has(key: string): boolean }): void {
    for (const key of keys) if (!held.has(key)) this.instances.delete(key);
  }

  clear(): void {
    this.instances.clear();
  }

  private instance(key: unknown): object {
    if (typeof key !== 'string') throw new TypeError('actor call: key must be a string');
    const instance = this.instances.get(key);
    if (instance === undefined) {
      throw new ActorWorkerLostError(`worker ${this.address} does not hold actor ${key} (it was released, or the worker holding it was lost)`);
    }
    return instance;
  }
}
