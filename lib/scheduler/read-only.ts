/**
 * Read-only proxies over live scheduler records, for plugins: a plugin sees
 * the real state (no copy per call) but any write — a property set, a delete,
 * `Map.prototype.set`, `Set.prototype.add`/`delete`/`clear` — throws a
 * TypeError instead of corrupting the scheduler. Nested objects are wrapped
 * lazily on access and cached, so reading costs a proxy hop, not a copy.
 */

/**
 * A plugin tried to change the scheduler through its read-only view.
 *
 * @example
 * ```ts
 * transition(key, start, finish) { try { this.scheduler.tasks.delete(key); } catch (e) { console.log(e instanceof ReadOnlyViewError); } }
 * ```
 */
export class ReadOnlyViewError extends TypeError {
  override readonly name = 'ReadOnlyViewError';
}

const MUTATORS: ReadonlySet<PropertyKey> = new Set(['set', 'add', 'delete', 'clear', 'push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill', 'copyWithin']);

const cache = new WeakMap<object, object>();

function refuse(what: string): never {
  throw new ReadOnlyViewError(`a plugin's view of the scheduler is read-only (tried to ${what})`);
}

/** `value` itself when it is not an object; otherwise a cached read-only proxy over it. */
export function readOnly<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (ArrayBuffer.isView(value)) return value; // bytes: typed arrays cannot be proxied usefully
  const existing = cache.get(value);
  if (existing !== undefined) return existing as T;
  const target = value as object;
  const isCollection = target instanceof Map || target instanceof Set;
  const proxy = new Proxy(target, {
    get(obj, property) {
      // Map and Set methods need the real object as `this`; mutating ones are refused.
      if (isCollection) {
        const member = Reflect.get(obj, property, obj) as unknown;
        if (typeof member === 'function') {
          if (MUTATORS.has(property)) return () => refuse(`call ${String(property)}()`);
          return (...args: unknown[]) => wrapResult((member as (...a: unknown[]) => unknown).apply(obj, args.map(unwrapCallback)));
        }
        return member;
      }
      const member = Reflect.get(obj, property, obj) as unknown;
      if (typeof member === 'function') {
        if (Array.isArray(obj) && MUTATORS.has(property)) return () => refuse(`call ${String(property)}()`);
        return member;
      }
      return readOnly(member);
    },
    set(_obj, property) {
      return refuse(`set ${String(property)}`);
    },
    deleteProperty(_obj, property) {
      return refuse(`delete ${String(property)}`);
    },
    defineProperty(_obj, property) {
      return refuse(`define ${String(property)}`);
    },
    setPrototypeOf() {
      return refuse('change a prototype');
    },
  });
  cache.set(target, proxy);
  return proxy as T;
}

/** Iterators and values coming out of a Map/Set method are wrapped too. */
function wrapResult(result: unknown): unknown {
  if (typeof result === 'object' && result !== null && typeof (result as Iterator<unknown>).next === 'function' && Symbol.iterator in result) {
    const inner = result as IterableIterator<unknown>;
    const wrapped: IterableIterator<unknown> = {
      next() {
        const step = inner.next();
        return step.done === true ? step : { done: false, value: readOnly(step.value) };
      },
      [Symbol.iterator]() {
        return wrapped;
      },
    };
    return wrapped;
  }
  return readOnly(result);
}

/** forEach callbacks receive read-only values. */
function unwrapCallback(arg: unknown): unknown {
  if (typeof arg !== 'function') return arg;
  const fn = arg as (...a: unknown[]) => unknown;
  return (...values: unknown[]) => fn(...values.map((v) => readOnly(v)));
}
