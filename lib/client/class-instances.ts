/**
 * Values travel as data: an instance of a user class would arrive as a plain
 * object with its fields and without its methods (`p.norm is not a function`
 * on the worker). Rather than let that surprise happen there, such an argument
 * is refused at submit with what to do instead. Instances whose class adds no
 * methods (plain records), binaries, Dates, RegExps, Errors, Maps, Sets and
 * actor handles travel as before.
 */
import { SerializationError } from '../errors.js';
import { actorRefOf } from '../protocol/actor-ref.js';

/** Throws a SerializationError if `value` is an instance of a class whose methods would be lost. */
export function refuseClassInstance(value: object, where: string): void {
  if (
    ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp ||
    value instanceof Error || value instanceof Map || value instanceof Set || Array.isArray(value) ||
    (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer) || actorRefOf(value) !== undefined
  ) {
    return;
  }
  const withMethods = classWithMethods(value);
  if (withMethods === undefined) return;
  const at = where === '' ? 'the value' : where;
  throw new SerializationError(
    `cannot send ${at}: it is an instance of class ${withMethods}, and only its fields would arrive ` +
      `(a plain object without ${withMethods}'s methods). Send plain data and rebuild the instance inside ` +
      `the task (e.g. pass { ...value } to a function exported from a module that imports ${withMethods}, ` +
      `submitted as remote(import.meta.url, 'exportName')), or keep the object on a worker as an actor: ` +
      `client.with({ actor: true }).submit(${withMethods}, ...constructorArgs)`,
  );
}

/** The name of the first class on `value`'s prototype chain (below Object) that defines methods or accessors. */
function classWithMethods(value: object): string | undefined {
  for (let proto: object | null = Object.getPrototypeOf(value); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    const names = Object.getOwnPropertyNames(proto).filter((name) => name !== 'constructor');
    if (names.length > 0 || Object.getOwnPropertySymbols(proto).length > 0) {
      const constructor = (proto as { constructor?: unknown }).constructor;
      return typeof constructor === 'function' && constructor.name !== '' ? constructor.name : 'Object';
    }
  }
  return undefined;
}
