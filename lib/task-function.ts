/**
 * How a user function reaches a worker, and how the worker gets it back.
 *
 * Client side (`toFunctionRef`): a self-contained function, arrow, async
 * function, class or method shorthand travels as its source text; a platform
 * function (`Math.max`, `JSON.stringify`, `parseInt`, `setTimeout`...) by its
 * path under globalThis; anything exported from a module the workers can load
 * by `remote(moduleUrl, exportName)`. Everything else (bound functions,
 * natives with no global path) is refused with a SerializationError that says
 * what to do instead.
 *
 * Worker side (`loadFunction`): source text is evaluated in strict mode by code
 * that lives in this package, so a dynamic `import('distributed-ts')` inside a
 * shipped function resolves to this package (self-reference through
 * package.json "exports"). Free variables are not captured: reading one fails
 * when the task runs, with the ReferenceError as the task's error.
 */
import { builtinModules } from 'node:module';
import { SerializationError } from './errors.js';
import type { FunctionRef } from './protocol/messages.js';
import { resolveUploadUrl } from './uploads.js';

export type { FunctionRef };

const remoteBrand = Symbol.for('distributed-ts.remote-function');

/** A function named by the module that exports it: workers `import(url)` and take `exportName`. */
export interface RemoteFunction {
  readonly [remoteBrand]: true;
  readonly url: string;
  readonly exportName: string;
  readonly name: string;
}

export type Callable = (...args: unknown[]) => unknown;

/**
 * Names an exported function for shipping by reference, e.g.
 * `remote(import.meta.url, 'inc')`. The module must be importable by the
 * workers at that URL (same machine, or shared filesystem, or uploaded).
 *
 * @example
 * ```ts
 * export function score(row: Row) { return model.predict(row); }   // uses this module's imports
 * const future = client.submit(remote(import.meta.url, 'score'), row);
 * ```
 */
export function remote(moduleUrl: string, exportName: string): RemoteFunction {
  if (typeof moduleUrl !== 'string' || moduleUrl === '') {
    throw new SerializationError('remote(moduleUrl, exportName): moduleUrl must be a non-empty string (use import.meta.url)');
  }
  if (typeof exportName !== 'string' || exportName === '') {
    throw new SerializationError('remote(moduleUrl, exportName): exportName must be a non-empty string');
  }
  return Object.freeze({ [remoteBrand]: true as const, url: moduleUrl, exportName, name: exportName });
}

export function isRemoteFunction(x: unknown): x is RemoteFunction {
  return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[remoteBrand] === true;
}

/** The name keys are prefixed with: the function's own name, or 'lambda'. */
export function functionName(fn: unknown): string {
  if (isRemoteFunction(fn)) return fn.exportName;
  if (typeof fn === 'function' && typeof fn.name === 'string' && fn.name !== '') return fn.name;
  return 'lambda';
}

/* ------------------------------------------------------------------ */
/* client side                                                          */
/* ------------------------------------------------------------------ */

const refCache = new WeakMap<object, FunctionRef>();

const howToShip =
  'export it from a module and submit remote(import.meta.url, \'exportName\') instead ' +
  '(upload the module with client.uploadFile if the workers cannot read it)';

export function toFunctionRef(fn: Function | RemoteFunction): FunctionRef {
  if (isRemoteFunction(fn)) {
    return { kind: 'module', url: fn.url, exportName: fn.exportName, name: fn.exportName };
  }
  if (typeof fn !== 'function') {
    throw new SerializationError(`expected a function or remote(url, exportName), got ${describe(fn)}`);
  }
  const cached = refCache.get(fn);
  if (cached !== undefined) return cached;
  const ref = computeFunctionRef(fn);
  refCache.set(fn, ref);
  return ref;
}

function computeFunctionRef(fn: Function): FunctionRef {
  const name = functionName(fn);
  const path = globalFunctionPaths().get(fn);
  if (path !== undefined) return { kind: 'global', path, name };

  const source = Function.prototype.toString.call(fn);
  if (isNativeSource(source)) {
    if (fn.name.startsWith('bound ')) {
      throw new SerializationError(`cannot send the bound function ${JSON.stringify(fn.name)}: bound functions carry hidden state; ${howToShip}`);
    }
    throw new SerializationError(
      `cannot send the native function ${JSON.stringify(fn.name)}: it has no path under globalThis; ${howToShip}`,
    );
  }
  const expression = sourceExpression(source);
  if (expression === undefined) {
    throw new SerializationError(`cannot send function ${JSON.stringify(name)}: its source text does not evaluate on its own; ${howToShip}`);
  }
  return { kind: 'source', source: expression, name };
}

function isNativeSource(source: string): boolean {
  return /\{\s*\[native code\]\s*\}\s*$/.test(source);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return x.constructor?.name ?? 'object';
  return typeof x;
}

/**
 * Source text that evaluates, as an expression, to the function. Functions,
 * arrows and classes are expressions already; method shorthand
 * (`f(x) {...}`, `async *[Symbol.iterator]() {...}`) is wrapped in an object
 * literal whose only property is taken back out.
 */
function sourceExpression(source: string): string | undefined {
  if (parsesAsExpression(source)) return source;
  const method = `((o) => o[Reflect.ownKeys(o)[0]])({ ${source}\n})`;
  if (parsesAsExpression(method)) return method;
  return undefined;
}

function parsesAsExpression(source: string): boolean {
  try {
    // Compiles without running: only a syntax check.
    new Function(`"use strict"; return (${source}\n);`);
    return true;
  } catch {
    return false;
  }
}

let globalPaths: Map<unknown, string> | undefined;

/**
 * Lazy globals whose first read loads a whole subsystem (undici for fetch's
 * classes, web streams): 20-140 ms on the first submit for functions nobody
 * ships. They are not looked at, so they cannot be sent by path.
 */
const EXPENSIVE_GLOBAL_GETTERS: ReadonlySet<string> = new Set([
  'FormData', 'Headers', 'Request', 'Response', 'MessageEvent', 'WebSocket', 'EventSource', 'CloseEvent',
  'ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader', 'ReadableStreamBYOBRequest',
  'ReadableByteStreamController', 'ReadableStreamDefaultController', 'TransformStream', 'TransformStreamDefaultController',
  'WritableStream', 'WritableStreamDefaultWriter', 'WritableStreamDefaultController', 'ByteLengthQueuingStrategy',
  'CountQueuingStrategy', 'TextEncoderStream', 'TextDecoderStream', 'CompressionStream', 'DecompressionStream',
]);

/**
 * Functions reachable from globalThis in one or two steps, by identity, with
 * the shortest path first (`parseInt`, not `Number.parseInt`). Accessor
 * properties are read only at the first level and never for builtin-module
 * globals (reading those in a REPL prints deprecation/experimental warnings).
 */
function globalFunctionPaths(): Map<unknown, string> {
  if (globalPaths !== undefined) return globalPaths;
  const paths = new Map<unknown, string>();
  const skip = new Set(builtinModules);
  const containers: Array<[string, object]> = [];
  for (const name of Object.getOwnPropertyNames(globalThis)) {
    if (name === 'globalThis' || name === 'global' || name === 'self') continue;
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
    if (descriptor === undefined) continue;
    let value: unknown;
    if ('value' in descriptor) value = descriptor.value;
    else if (!skip.has(name) && !EXPENSIVE_GLOBAL_GETTERS.has(name) && descriptor.get !== undefined) {
      try {
        value = (globalThis as Record<string, unknown>)[name];
      } catch {
        continue;
      }
    } else continue;
    if (typeof value === 'function' && !paths.has(value)) paths.set(value, name);
    if ((typeof value === 'object' || typeof value === 'function') && value !== null) containers.push([name, value]);
  }
  for (const [prefix, container] of containers) {
    for (const name of Object.getOwnPropertyNames(container)) {
      const descriptor = Object.getOwnPropertyDescriptor(container, name);
      if (descriptor === undefined || !('value' in descriptor)) continue;
      const value: unknown = descriptor.value;
      if (typeof value === 'function' && !paths.has(value)) paths.set(value, `${prefix}.${name}`);
    }
  }
  globalPaths = paths;
  return paths;
}

/* ------------------------------------------------------------------ */
/* worker side                                                          */
/* ------------------------------------------------------------------ */

/** Most loaded functions kept per kind; older entries are dropped first. */
const maxCachedFunctions = 2048;

interface FunctionCache {
  loaded: Map<string, Callable>;
  loading: Map<string, Promise<Callable>>;
}
const caches: Record<FunctionRef['kind'], FunctionCache> = {
  source: { loaded: new Map(), loading: new Map() },
  global: { loaded: new Map(), loading: new Map() },
  module: { loaded: new Map(), loading: new Map() },
};

/** Source text and paths are their own cache keys (no concatenation: a decoded string is hashed once). */
function cacheKey(ref: FunctionRef): string {
  switch (ref.kind) {
    case 'source':
      return ref.source;
    case 'global':
      return ref.path;
    case 'module':
      return `${ref.exportName}@${ref.url}`;
  }
}

/** The function if it has been loaded already (no microtask on the hot path). */
export function loadedFunction(ref: FunctionRef): Callable | undefined {
  return caches[ref.kind]?.loaded.get(cacheKey(ref));
}

/** Evaluates or imports the function a FunctionRef names; cached per source, path or URL. */
export function loadFunction(ref: FunctionRef): Promise<Callable> {
  const cache = caches[ref.kind];
  if (cache === undefined) {
    return Promise.reject(new SerializationError(`unknown function reference ${JSON.stringify(ref)}`));
  }
  const key = cacheKey(ref);
  const hit = cache.loaded.get(key);
  if (hit !== undefined) return Promise.resolve(hit);
  let pending = cache.loading.get(key);
  if (pending === undefined) {
    pending = resolveFunction(ref).then(
      (fn) => {
        cache.loading.delete(key);
        if (cache.loaded.size >= maxCachedFunctions) cache.loaded.delete(cache.loaded.keys().next().value as string);
        cache.loaded.set(key, fn);
        return fn;
      },
      (error: unknown) => {
        cache.loading.delete(key);
        throw error;
      },
    );
    cache.loading.set(key, pending);
  }
  return pending;
}

async function resolveFunction(ref: FunctionRef): Promise<Callable> {
  switch (ref.kind) {
    case 'source':
      return evaluateSource(ref.source, ref.name);
    case 'global':
      return resolveGlobalPath(ref.path);
    case 'module':
      return importExport(ref.url, ref.exportName);
  }
}

/** Names a function's source may use for itself: binding them lets `const f = (n) => ... f(n - 1)` recurse. */
const BINDABLE_NAME = /^[A-Za-z_$][\w$]*$/;

function evaluateSource(source: string, name: string): Callable {
  // Compiled here, inside this package: import() in the body resolves from this module.
  let value: unknown;
  if (BINDABLE_NAME.test(name)) {
    let compiled: (() => unknown) | undefined;
    try {
      // Like a module-level `const name = ...` on the client, so the function can call itself by name.
      compiled = new Function(`"use strict"; const ${name} = (${source}\n); return ${name};`) as () => unknown;
    } catch {
      // A reserved word as name (or a source that only parses alone): no self-binding.
    }
    if (compiled !== undefined) value = compiled();
  }
  value ??= new Function(`"use strict"; return (${source}\n);`)();
  if (typeof value !== 'function') {
    throw new SerializationError(`source of ${JSON.stringify(name)} evaluated to ${describe(value)}, not a function`);
  }
  return value as Callable;
}

/** `Promise.resolve` and friends need their container as `this`, so two-step paths are bound to it. */
function resolveGlobalPath(path: string): Callable {
  let container: unknown;
  let value: unknown = globalThis;
  for (const part of path.split('.')) {
    container = value;
    value = value === null || value === undefined ? undefined : (value as Record<string, unknown>)[part];
  }
  if (typeof value !== 'function') {
    throw new SerializationError(`globalThis.${path} is not a function in this process`);
  }
  return container === globalThis ? (value as Callable) : (value as Callable).bind(container);
}

async function importExport(url: string, exportName: string): Promise<Callable> {
  // `upload:<name>`: this process's copy of a file sent with client.uploadFile.
  const mod = (await import(resolveUploadUrl(url))) as Record<string, unknown>;
  const value = mod[exportName];
  if (typeof value !== 'function') {
    throw new SerializationError(
      exportName in mod
        ? `export ${JSON.stringify(exportName)} of ${url} is ${describe(value)}, not a function`
        : `module ${url} has no export named ${JSON.stringify(exportName)}`,
    );
  }
  return value as Callable;
}
