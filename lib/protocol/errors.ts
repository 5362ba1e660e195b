/**
 * Errors as data: a task's exception travels to the scheduler and clients as
 * a SerializedError (lib/protocol/messages.ts) and is rebuilt there with the
 * same name, message, remote stack, own properties and cause chain.
 */
import { encodeValue, typeName } from './values.js';
import { isErrorLike, rebuildError } from './error-classes.js';
import { ownErrorProps } from './value-extensions.js';
import type { SerializedError } from './messages.js';

export { registerErrorClass } from './error-classes.js';

/** Causes deeper than this are cut off (a cause chain can be cyclic or absurdly long). */
const MAX_CAUSE_DEPTH = 16;

function readString(read: () => unknown, fallback: string): string {
  try {
    const value = read();
    return typeof value === 'string' ? value : value === undefined ? fallback : String(value);
  } catch {
    return fallback;
  }
}

/** `value` if it can cross the wire, otherwise a short description of what it was. */
function wireSafe(value: unknown): unknown {
  try {
    encodeValue(value);
    return value;
  } catch {
    return `[unserializable ${typeName(value)}]`;
  }
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  const message = (value as { message?: unknown }).message;
  if (typeof message === 'string') return message;
  try {
    return `${typeName(value)} thrown: ${JSON.stringify(value)?.slice(0, 200) ?? String(value)}`;
  } catch {
    return `${typeName(value)} thrown`;
  }
}

function serialize(thrown: unknown, depth: number, seen: Set<unknown>): SerializedError {
  if (!isErrorLike(thrown)) {
    // `throw 'boom'` and friends: an Error-shaped record that keeps the thrown value when it can travel.
    const serialized: SerializedError = { name: 'Error', message: describeThrown(thrown) };
    serialized.props = { thrown: typeName(thrown), value: wireSafe(thrown) };
    return serialized;
  }
  seen.add(thrown);
  const serialized: SerializedError = {
    name: readString(() => thrown.name, 'Error'),
    message: readString(() => thrown.message, ''),
  };
  const stack = readString(() => thrown.stack, '');
  if (stack !== '') serialized.stack = stack;
  let props: Record<string, unknown> | null = null;
  try {
    props = ownErrorProps(thrown);
  } catch {
    // a throwing getter among the own properties: send the error without them
  }
  if (props !== null) {
    for (const key of Object.keys(props)) props[key] = wireSafe(props[key]);
    serialized.props = props;
  }
  let cause: unknown;
  try {
    cause = 'cause' in thrown ? thrown.cause : undefined;
  } catch {
    cause = undefined;
  }
  if (cause !== undefined && depth < MAX_CAUSE_DEPTH && !seen.has(cause)) {
    serialized.cause = serialize(cause, depth + 1, seen);
  }
  return serialized;
}

/** Describe anything that was thrown (Errors and non-Errors alike) as plain data. */
export function serializeError(error: unknown): SerializedError {
  return serialize(error, 0, new Set());
}

function rebuild(serialized: SerializedError, depth: number): Error {
  const record = (serialized !== null && typeof serialized === 'object' ? serialized : { name: 'Error', message: String(serialized) }) as Partial<SerializedError>;
  const hasCause = record.cause !== undefined && record.cause !== null && depth < MAX_CAUSE_DEPTH;
  return rebuildError({
    name: typeof record.name === 'string' ? record.name : 'Error',
    message: typeof record.message === 'string' ? record.message : String(record.message ?? ''),
    stack: typeof record.stack === 'string' ? record.stack : undefined,
    props: record.props !== null && typeof record.props === 'object' ? record.props : undefined,
    hasCause,
    cause: hasCause ? rebuild(record.cause!, depth + 1) : undefined,
  });
}

/**
 * Rebuild an Error: same name, message, stack (the remote one), properties and
 * cause. Names of JavaScript built-ins and lib/errors.ts classes come back as
 * instances of those classes (without running their constructors).
 */
export function deserializeError(serialized: SerializedError): Error {
  return rebuild(serialized, 0);
}
