/**
 * Turning one call `fn(...args)` into the GraphTask the scheduler receives:
 * the function as a FunctionRef, the arguments as one Blob with Futures
 * replaced by DependencyRefs, and the key (pure: a hash of both).
 */
import { SerializationError } from '../errors.js';
import type { FunctionRef, GraphTask, Restrictions } from '../protocol/messages.js';
import { encodeValue } from '../protocol/values.js';
import { functionName, toFunctionRef, type RemoteFunction } from '../task-function.js';
import { replaceReferences, type TaskReference } from './arguments.js';
import { keyName, makeKey, randomToken, tokenizeAfter, tokenPrefix } from './keys.js';

/** What `submit` accepts as the function: any shippable function, or `remote(url, name)`. */
export type TaskFunction = Function | RemoteFunction;

export interface ShippedFunction {
  ref: FunctionRef;
  /** JSON of `ref`: the function's part of a pure key. */
  token: string;
  /** `tokenPrefix(token)`, prepared once. */
  tokenBytes: Uint8Array;
  /** Key prefix. */
  name: string;
}

const shipped = new WeakMap<object, ShippedFunction>();

/** The FunctionRef of `fn`, cached per function; throws SerializationError for functions that cannot travel. */
export function shipFunction(fn: TaskFunction): ShippedFunction {
  let entry = shipped.get(fn);
  if (entry === undefined) {
    const ref = toFunctionRef(fn);
    const token = JSON.stringify(ref);
    entry = { ref, token, tokenBytes: tokenPrefix(token), name: keyName(functionName(fn)) };
    shipped.set(fn, entry);
  }
  return entry;
}

/** Per-task settings from `client.with(...)` and friends. */
export interface TaskSettings {
  /** The task's key, instead of a generated one. */
  key?: string;
  /** Default true: the key is a hash of function and arguments. */
  pure?: boolean;
  /** Key prefix instead of the function's name. */
  name?: string;
  restrictions?: Restrictions;
  retries?: number;
  priority?: number;
  actor?: boolean;
}

export interface BuiltTask {
  task: GraphTask;
  /** The Futures (or other references) found in the arguments, by key. */
  references: ReadonlyMap<string, TaskReference>;
}

/** Encodes `args` for a task of `fn`; errors name the function and what could not be encoded. */
export function encodeArguments(fn: ShippedFunction, args: unknown): Uint8Array {
  try {
    return encodeValue(args);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SerializationError(`cannot send the arguments of ${fn.name}: ${reason}`, { cause: error });
  }
}

export function buildTask(fn: TaskFunction, args: readonly unknown[], settings: TaskSettings = {}): BuiltTask {
  const shippedFn = shipFunction(fn);
  const { value, references } = replaceReferences(args, undefined, 'args');
  const blob = encodeArguments(shippedFn, value);
  const impure = settings.pure === false || settings.actor === true;
  const key = settings.key ?? makeKey(settings.name ?? shippedFn.name, impure ? randomToken() : tokenizeAfter(shippedFn.tokenBytes, blob));
  const task: GraphTask = {
    key,
    dependencies: references.size === 0 ? [] : [...references.keys()],
    runSpec: settings.actor === true ? { fn: shippedFn.ref, args: blob, actor: true } : { fn: shippedFn.ref, args: blob },
  };
  if (settings.restrictions !== undefined) task.restrictions = settings.restrictions;
  if (settings.retries !== undefined && settings.retries > 0) task.retries = settings.retries;
  if (settings.priority !== undefined && settings.priority !== 0) task.priority = settings.priority;
  return { task, references };
}
