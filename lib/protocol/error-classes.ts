/**
 * Which Error subclass a serialized error's `name` comes back as.
 *
 * JavaScript built-ins and every class exported by lib/errors.ts are known by
 * their names; anything else is rebuilt as a plain Error that keeps its name.
 */
import * as distributedErrors from '../errors.js';

type ErrorClass = abstract new (...args: never[]) => Error;

const classesByName = new Map<string, ErrorClass>();

/** Make `deserializeError`/`decodeValue` rebuild errors called `name` as instances of `errorClass`. */
export function registerErrorClass(errorClass: ErrorClass, name: string = errorClass.name): void {
  classesByName.set(name, errorClass);
}

for (const builtIn of [Error, TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError, AggregateError]) {
  registerErrorClass(builtIn);
}
for (const exported of Object.values(distributedErrors)) {
  if (typeof exported === 'function' && exported.prototype instanceof Error) {
    registerErrorClass(exported as ErrorClass);
  }
}

/** Names that are part of every error and never travel as extra properties. */
const RESERVED_PROPS = new Set(['name', 'message', 'stack', 'cause', '__proto__']);

export function isReservedErrorProp(key: string): boolean {
  return RESERVED_PROPS.has(key);
}

export interface ErrorParts {
  name: string;
  message: string;
  /** The stack as the error had it where it was thrown (another process, usually). */
  stack?: string;
  props?: Record<string, unknown>;
  hasCause: boolean;
  cause?: unknown;
}

/**
 * Build an error of the class registered for `parts.name` without running its
 * constructor (constructors of lib/errors.ts classes take other arguments);
 * the own properties that constructor would have set arrive in `props`.
 */
export function rebuildError(parts: ErrorParts): Error {
  const errorClass = classesByName.get(parts.name);
  const newTarget = (errorClass ?? Error) as unknown as new (...args: unknown[]) => Error;
  const args: unknown[] = parts.hasCause ? [parts.message, { cause: parts.cause }] : [parts.message];
  const error = Reflect.construct(Error, args, newTarget) as Error;
  if (error.name !== parts.name) {
    // lib/errors.ts classes declare `name` as a class field (an own, enumerable property): do the same.
    const ownName = errorClass !== undefined && errorClass.prototype instanceof distributedErrors.DistributedError;
    Object.defineProperty(error, 'name', { value: parts.name, writable: true, configurable: true, enumerable: ownName });
  }
  Object.defineProperty(error, 'stack', {
    value: parts.stack ?? `${parts.name}: ${parts.message}`,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  if (parts.props !== undefined && parts.props !== null && typeof parts.props === 'object') {
    for (const key of Object.keys(parts.props)) {
      if (isReservedErrorProp(key)) continue;
      Object.defineProperty(error, key, { value: parts.props[key], writable: true, configurable: true, enumerable: true });
    }
  }
  return error;
}

/** True for Errors from this realm and from others (vm contexts), which fail `instanceof Error`. */
export function isErrorLike(value: unknown): value is Error {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]';
}
