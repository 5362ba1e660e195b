/**
 * The array `client.map` returns while its rows are still being built in
 * slices (map-slices.ts): a Proxy over the array being filled. Reading an
 * item not built yet builds through it at once; anything that writes, or
 * lists the keys, builds everything first. `gather`, `wait` and friends ask
 * `whenBuilt` and wait for the slices instead of forcing them.
 */
import type { MapSlices } from './map-slices.js';

const slicesOf = new WeakMap<object, MapSlices<unknown>>();

function indexOf(property: string | symbol): number | undefined {
  if (typeof property !== 'string' || property.length === 0) return undefined;
  const first = property.charCodeAt(0);
  if (first < 48 || first > 57) return undefined;
  const index = Number(property);
  return Number.isInteger(index) && String(index) === property ? index : undefined;
}

export function slicedArray<F>(slices: MapSlices<F>): F[] {
  const target = slices.items;
  const all = (): void => {
    if (!slices.complete) slices.through(slices.total - 1);
  };
  /** An item's index builds through it; other properties (length, methods, symbols) need nothing built. */
  const touch = (property: string | symbol): void => {
    if (slices.complete) return;
    const index = indexOf(property);
    if (index !== undefined && index < slices.total) slices.through(index);
  };
  const proxy = new Proxy(target, {
    get(array, property, receiver) {
      touch(property);
      return Reflect.get(array, property, receiver);
    },
    has(array, property) {
      touch(property);
      return Reflect.has(array, property);
    },
    ownKeys(array) {
      all();
      return Reflect.ownKeys(array);
    },
    getOwnPropertyDescriptor(array, property) {
      touch(property);
      return Reflect.getOwnPropertyDescriptor(array, property);
    },
    set(array, property, value, receiver) {
      all();
      return Reflect.set(array, property, value, receiver);
    },
    deleteProperty(array, property) {
      all();
      return Reflect.deleteProperty(array, property);
    },
    defineProperty(array, property, descriptor) {
      all();
      return Reflect.defineProperty(array, property, descriptor);
    },
  });
  slicesOf.set(proxy, slices as MapSlices<unknown>);
  return proxy;
}

/**
 * For an array from a sliced map still being built: a promise that resolves
 * once it is (rejects with what stopped it). Otherwise undefined.
 */
export function whenBuilt(value: unknown): Promise<void> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const slices = slicesOf.get(value);
  if (slices === undefined || slices.complete) return undefined;
  return slices.done;
}

/** The plain array behind a sliced map's array (built through), or `value` itself. */
export function unsliced<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  const slices = slicesOf.get(value);
  if (slices === undefined) return value;
  if (!slices.complete) slices.through(slices.total - 1);
  return slices.items as T;
}
