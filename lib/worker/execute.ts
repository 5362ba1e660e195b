/**
 * Running tasks: decode dependencies and arguments, load the function, call
 * it, encode the result. Runs inside piscina threads (actors/worker-thread.ts)
 * but imports nothing thread-specific, so it is unit-tested on the main thread.
 *
 * Errors never escape: each task yields an outcome, and a failure carries a
 * SerializedError made here (structured clone would drop custom error classes
 * and their properties).
 */
import { performance } from 'node:perf_hooks';
import { isMainThread, threadId } from 'node:worker_threads';
import type { Blob, RunSpec, SerializedError } from '../protocol/messages.js';
import type { PartsLike } from '../protocol/lone-binary.js';
import { decodeWithViews, decodeValue, encodeValue, typeName } from '../protocol/values.js';
import { serializeError } from '../protocol/errors.js';
import { SerializationError } from '../errors.js';
import { loadFunction, loadedFunction } from '../task-function.js';
import { runInTask, type TaskHost } from '../task-context.js';
import { collectGarbage } from './collect-garbage.js';
import { LargeGarbageMeter } from './thread-garbage.js';

export interface TaskToRun {
  key: string;
  runSpec: RunSpec;
  /**
   * Encoded values of the task's dependencies; a large binary scattered in
   * this process may come as its parts in shared memory (HeldBlob, which a
   * post to the thread turns into a plain { parts } object).
   */
  deps: Record<string, Blob | PartsLike>;
}

export interface TaskSuccess {
  key: string;
  ok: true;
  value: Blob;
  type: string;
  nbytes: number;
  /** milliseconds */
  duration: number;
  /** When it started, wall-clock ms since the epoch, and on which thread (threadId; 0: the main thread). */
  start: number;
  thread: number;
}

export interface TaskFailure {
  key: string;
  ok: false;
  error: SerializedError;
  /** milliseconds */
  duration: number;
  start: number;
  thread: number;
}

export type TaskOutcome = TaskSuccess | TaskFailure;

/** Runs the batch one task after another (batches hold short tasks; a long one travels alone). */
export async function executeTasks(batch: readonly TaskToRun[], host?: TaskHost): Promise<TaskOutcome[]> {
  const outcomes: TaskOutcome[] = new Array(batch.length);
  for (let i = 0; i < batch.length; i++) outcomes[i] = await executeTask(batch[i]!, host);
  // On a pool thread, dead buffers of large values are collected soon (thread-garbage.ts); never the main thread's big heap.
  if (!isMainThread && threadGarbage.handled(valueBytes(batch, outcomes))) collectGarbage(0);
  return outcomes;
}

const threadGarbage = new LargeGarbageMeter();

/** Bytes of the values a batch read and produced. */
export function valueBytes(batch: readonly TaskToRun[], outcomes: readonly TaskOutcome[]): number {
  let bytes = 0;
  for (const task of batch) for (const key in task.deps) bytes += task.deps[key]!.byteLength;
  for (const outcome of outcomes) if (outcome.ok) bytes += outcome.value.byteLength;
  return bytes;
}

/** With a `host`, the task runs in its task context (getWorker, getClient, secede... work inside it). */
export async function executeTask(task: TaskToRun, host?: TaskHost): Promise<TaskOutcome> {
  const start = performance.now();
  let result: unknown;
  try {
    const fn = loadedFunction(task.runSpec.fn) ?? (await loadFunction(task.runSpec.fn));
    const args = decodeArguments(task);
    result = host === undefined ? fn(...args) : runInTask(host, task.key, () => fn(...args));
    if (isPromiseLike(result)) result = await result;
  } catch (error) {
    if (task.runSpec.fn.kind === 'source') addScopeHint(error);
    return failure(task.key, error, start);
  }
  const duration = performance.now() - start;
  let value: Blob;
  try {
    value = encodeValue(result);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const wrapped = new SerializationError(
      `task ${task.key} returned a value of type ${typeName(result)} that cannot be encoded: ${reason}`,
    );
    return failure(task.key, wrapped, start);
  }
  return { key: task.key, ok: true, value, type: typeName(result), nbytes: value.byteLength, duration, start: wallClock(start), thread: threadId };
}

/** Always a map, so a DependencyRef with no value is an error rather than left in place. */
const noDependencies: ReadonlyMap<string, unknown> = new Map();

/** The task's arguments with its dependencies' values in place. */
export function decodeArguments(task: TaskToRun): unknown[] {
  const depKeys = Object.keys(task.deps);
  let deps = noDependencies;
  if (depKeys.length > 0) {
    const decoded = new Map<string, unknown>();
    for (const key of depKeys) decoded.set(key, decodeWithViews(task.deps[key]!));
    deps = decoded;
  }
  const args = decodeValue(task.runSpec.args, deps);
  if (!Array.isArray(args)) {
    throw new SerializationError(`task ${task.key}: arguments must encode an array, got ${typeName(args)}`);
  }
  return args;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function failure(key: string, error: unknown, start: number): TaskFailure {
  return { key, ok: false, error: serializeError(error), duration: performance.now() - start, start: wallClock(start), thread: threadId };
}

/** A performance.now() reading as wall-clock ms: comparable across threads and processes (timeOrigin differs per thread). */
export function wallClock(now: number): number {
  return performance.timeOrigin + now;
}


/**
 * A function sent as source text has no surrounding scope on the worker, so a
 * variable it read from the caller's scope is "not defined" there: say why and
 * what to do instead of leaving a bare ReferenceError.
 */
export function addScopeHint(error: unknown): void {
  if (!(error instanceof ReferenceError)) return;
  const match = /^(\S+) is not defined$/.exec(error.message);
  if (match === null) return;
  const name = match[1]!;
  const hint =
    `${name} is not defined (the task function travels to the worker as its source text, without the ` +
    `variables of the scope it was written in: pass ${name} as an argument, or export the function ` +
    `from a module and submit remote(import.meta.url, 'exportName'))`;
  try {
    error.message = hint;
    if (typeof error.stack === 'string') error.stack = error.stack.replace(/^ReferenceError: .*$/m, `ReferenceError: ${hint}`);
  } catch {
    // A frozen error keeps its own words.
  }
}
