/**
 * A placeholder for a task dependency inside encoded task arguments. The
 * client encodes `DependencyRef`s where futures appeared; the worker decodes
 * the args with the dependency values and gets them substituted in place,
 * during decoding (no second walk over the arguments).
 */
import { addExtension } from 'msgpackr';
import { SerializationError } from '../errors.js';
import { EXT_DEPENDENCY_REF } from './extension-codes.js';

export class DependencyRef {
  constructor(readonly key: string) {}
}

/** The dependency values of the decode in progress (decoding is synchronous, so one slot is enough). */
let activeDependencies: ReadonlyMap<string, unknown> | null = null;

/** Run `decode` with every DependencyRef it meets replaced by `deps.get(key)`. */
export function withDependencies<T>(deps: ReadonlyMap<string, unknown> | null, decode: () => T): T {
  const previous = activeDependencies;
  activeDependencies = deps;
  try {
    return decode();
  } finally {
    activeDependencies = previous;
  }
}

addExtension({
  Class: DependencyRef,
  type: EXT_DEPENDENCY_REF,
  write: (ref: DependencyRef) => ref.key,
  read(key: unknown): unknown {
    if (typeof key !== 'string') throw new SerializationError('malformed DependencyRef extension');
    if (activeDependencies === null) return new DependencyRef(key);
    if (!activeDependencies.has(key)) throw new SerializationError(`dependency ${JSON.stringify(key)} was not provided`);
    return activeDependencies.get(key);
  },
});
