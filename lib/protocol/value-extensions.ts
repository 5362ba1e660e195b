/**
 * msgpackr extensions that make JavaScript values survive a round trip:
 * Errors keep stack/props/cause and their class, Maps stay Maps, -0 stays -0,
 * and values that cannot mean anything elsewhere (Promise, WeakMap, ...) are
 * refused instead of silently becoming `{}`.
 *
 * Importing this module registers the extensions (msgpackr's table is global).
 */
import { addExtension } from 'msgpackr';
import { SerializationError } from '../errors.js';
import { isReservedErrorProp, rebuildError } from './error-classes.js';
import { EXT_ERROR, EXT_MAP, EXT_NEGATIVE_ZERO, EXT_UNENCODABLE } from './extension-codes.js';

/** Stands in for a Map while encoding: msgpackr writes plain Maps as msgpack maps, which decode as objects. */
export class EncodedMap {
  constructor(readonly entries: unknown[]) {}
}

/** Stands in for -0 while encoding: msgpackr writes it as the integer 0. */
export class NegativeZero {}
export const NEGATIVE_ZERO = new NegativeZero();

const UNENCODABLE_CLASSES: Array<abstract new (...args: never[]) => object> = [
  Promise,
  WeakMap,
  WeakSet,
  WeakRef,
  FinalizationRegistry,
];

for (const unencodable of UNENCODABLE_CLASSES) {
  addExtension({
    Class: unencodable,
    type: EXT_UNENCODABLE,
    pack(value: object): Uint8Array {
      throw new SerializationError(`a ${value.constructor.name} cannot be serialized`);
    },
    unpack(): never {
      throw new SerializationError('unencodable-value marker in input');
    },
  });
}

addExtension({
  Class: EncodedMap,
  type: EXT_MAP,
  write: (map: EncodedMap) => map.entries,
  read(entries: unknown): Map<unknown, unknown> {
    if (!Array.isArray(entries) || entries.length % 2 !== 0) throw new SerializationError('malformed Map extension');
    const map = new Map<unknown, unknown>();
    for (let i = 0; i < entries.length; i += 2) map.set(entries[i], entries[i + 1]);
    return map;
  },
});

addExtension({
  Class: NegativeZero,
  type: EXT_NEGATIVE_ZERO,
  write: () => null,
  read: () => -0,
});

type ErrorTuple = [name: string, message: string, stack: string | undefined, props: Record<string, unknown> | null, cause?: unknown];

/** Own enumerable properties beyond name/message/stack/cause (e.g. `code`, `errno`, CancelledError's `key`). */
export function ownErrorProps(error: Error): Record<string, unknown> | null {
  let props: Record<string, unknown> | null = null;
  for (const key of Object.keys(error)) {
    if (isReservedErrorProp(key)) continue;
    (props ??= {})[key] = (error as unknown as Record<string, unknown>)[key];
  }
  // AggregateError keeps its list in a non-enumerable own property.
  if (error instanceof AggregateError && Array.isArray(error.errors)) (props ??= {}).errors = error.errors;
  return props;
}

addExtension({
  Class: Error,
  type: EXT_ERROR,
  write(error: Error): ErrorTuple {
    const tuple: ErrorTuple = [String(error.name), String(error.message), typeof error.stack === 'string' ? error.stack : undefined, ownErrorProps(error)];
    if ('cause' in error) tuple.push(error.cause);
    return tuple;
  },
  read(tuple: unknown): Error {
    if (!Array.isArray(tuple) || tuple.length < 4 || typeof tuple[0] !== 'string' || typeof tuple[1] !== 'string') {
      throw new SerializationError('malformed Error extension');
    }
    const [name, message, stack, props] = tuple as ErrorTuple;
    return rebuildError({
      name,
      message,
      stack: typeof stack === 'string' ? stack : undefined,
      props: props ?? undefined,
      hasCause: tuple.length > 4,
      cause: tuple[4],
    });
  },
});
