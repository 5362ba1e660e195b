/**
 * The options `client.with(...)` applies to submit, map, scatter, compute and
 * run, checked once when the view is made.
 */
import type { Restrictions } from '../protocol/messages.js';
import type { TaskSettings } from './task-spec.js';

/**
 * Options a `client.with(...)` view applies to `submit`, `map`, `scatter`, `compute` and `run`.
 */
export interface TaskOptions {
  /** submit: the task's key. map: a key prefix, or one key per item. */
  key?: string | readonly string[];
  /** Default true: the key is a hash of function and arguments, so the same call runs once. */
  pure?: boolean;
  /** Run only on these workers (addresses, hostnames or worker names). */
  workers?: string | readonly string[];
  /** With `workers`: prefer them, but run elsewhere if none of them can. */
  allowOtherWorkers?: boolean;
  /** Abstract resources a worker must advertise, e.g. `{ GPU: 1 }`. */
  resources?: Readonly<Record<string, number>>;
  /** Re-run a failing task up to this many times. */
  retries?: number;
  /** Higher runs first. */
  priority?: number;
  /** Create an actor: the result is a handle to an instance living on one worker. */
  actor?: boolean;
}

const known = new Set(['key', 'pure', 'workers', 'allowOtherWorkers', 'resources', 'retries', 'priority', 'actor']);

/** `base` with `extra` on top, checked; throws TypeError for a bad option. */
export function mergeTaskOptions(base: TaskOptions, extra: TaskOptions): TaskOptions {
  if (typeof extra !== 'object' || extra === null) throw new TypeError('with() expects an options object');
  for (const name of Object.keys(extra)) {
    if (!known.has(name)) throw new TypeError(`unknown option ${JSON.stringify(name)} (known: ${[...known].join(', ')})`);
  }
  const merged: TaskOptions = { ...base };
  for (const [name, value] of Object.entries(extra)) {
    if (value !== undefined) (merged as Record<string, unknown>)[name] = value;
  }
  checkTaskOptions(merged);
  return merged;
}

function checkTaskOptions(options: TaskOptions): void {
  const { key, pure, workers, allowOtherWorkers, resources, retries, priority, actor } = options;
  if (key !== undefined && typeof key !== 'string' && !(Array.isArray(key) && key.every((k) => typeof k === 'string' && k !== ''))) {
    throw new TypeError('key must be a string (or, for map, an array of strings)');
  }
  if (typeof key === 'string' && key === '') throw new TypeError('key must not be empty');
  if (pure !== undefined && typeof pure !== 'boolean') throw new TypeError('pure must be a boolean');
  if (actor !== undefined && typeof actor !== 'boolean') throw new TypeError('actor must be a boolean');
  if (workers !== undefined) {
    const list = typeof workers === 'string' ? [workers] : workers;
    if (!Array.isArray(list) || list.length === 0 || !list.every((w) => typeof w === 'string' && w !== '')) {
      throw new TypeError('workers must be a worker address, hostname or name, or a non-empty array of them');
    }
  }
  if (allowOtherWorkers !== undefined && typeof allowOtherWorkers !== 'boolean') {
    throw new TypeError('allowOtherWorkers must be a boolean');
  }
  if (allowOtherWorkers === true && workers === undefined) {
    throw new TypeError('allowOtherWorkers only makes sense together with workers');
  }
  if (resources !== undefined) {
    if (typeof resources !== 'object' || resources === null) throw new TypeError('resources must be an object like { GPU: 1 }');
    for (const [name, amount] of Object.entries(resources)) {
      if (typeof amount !== 'number' || !(amount > 0) || !Number.isFinite(amount)) {
        throw new TypeError(`resource ${JSON.stringify(name)} must be a positive number, got ${String(amount)}`);
      }
    }
  }
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
    throw new TypeError(`retries must be a non-negative integer, got ${String(retries)}`);
  }
  if (priority !== undefined && !(typeof priority === 'number' && Number.isFinite(priority))) {
    throw new TypeError(`priority must be a finite number, got ${String(priority)}`);
  }
}

/** The restrictions GraphTask field, or undefined when there are none. */
export function restrictionsOf(options: TaskOptions): Restrictions | undefined {
  if (options.workers === undefined && options.resources === undefined) return undefined;
  const restrictions: Restrictions = {};
  if (options.workers !== undefined) {
    restrictions.workers = typeof options.workers === 'string' ? [options.workers] : [...options.workers];
    if (options.allowOtherWorkers === true) restrictions.allowOtherWorkers = true;
  }
  if (options.resources !== undefined) restrictions.resources = { ...options.resources };
  return restrictions;
}

/** Task settings for one task; `key` is the exact key or undefined (map passes per-item keys). */
export function taskSettings(options: TaskOptions, key: string | undefined, name?: string): TaskSettings {
  const settings: TaskSettings = {};
  if (key !== undefined) settings.key = key;
  if (name !== undefined) settings.name = name;
  if (options.pure !== undefined) settings.pure = options.pure;
  if (options.actor !== undefined) settings.actor = options.actor;
  if (options.retries !== undefined) settings.retries = options.retries;
  if (options.priority !== undefined) settings.priority = options.priority;
  const restrictions = restrictionsOf(options);
  if (restrictions !== undefined) settings.restrictions = restrictions;
  return settings;
}
