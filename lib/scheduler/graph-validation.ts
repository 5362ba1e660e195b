/**
 * Checks an update-graph before anything changes: every task well formed,
 * every dependency either in the graph or already known, no cycles. Returns
 * the new tasks ordered so that each comes after its dependencies.
 */
import { InvalidGraphError, LostDataError } from '../errors.js';
import type { GraphTask } from '../protocol/messages.js';

const MAX_KEYS_IN_MESSAGE = 5;

function describeKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, MAX_KEYS_IN_MESSAGE).join(', ');
  return keys.length > MAX_KEYS_IN_MESSAGE ? `${shown}, … (${keys.length} keys)` : shown;
}

function checkShape(task: unknown, index: number): asserts task is GraphTask {
  if (typeof task !== 'object' || task === null) throw new InvalidGraphError(`task #${index} is not an object`);
  const t = task as Partial<GraphTask>;
  if (typeof t.key !== 'string' || t.key === '') throw new InvalidGraphError(`task #${index} has no string key`);
  if (t.dependencies !== undefined && (!Array.isArray(t.dependencies) || t.dependencies.some((d) => typeof d !== 'string'))) {
    throw new InvalidGraphError(`task ${t.key}: dependencies must be an array of keys`);
  }
  if (t.runSpec !== undefined && (typeof t.runSpec !== 'object' || t.runSpec === null)) {
    throw new InvalidGraphError(`task ${t.key}: runSpec must be an object`);
  }
  if (t.retries !== undefined && !(Number.isInteger(t.retries) && t.retries >= 0)) {
    throw new InvalidGraphError(`task ${t.key}: retries must be a non-negative integer`);
  }
  if (t.priority !== undefined && !Number.isFinite(t.priority)) {
    throw new InvalidGraphError(`task ${t.key}: priority must be a finite number`);
  }
}

/**
 * `known(key)` tells whether the scheduler already has a task for `key`; such
 * tasks in the message are left as they are (the first definition wins) and are
 * not returned (a key repeated in a graph without dependencies may be returned
 * twice: callers keep the first). `wanted` keys must be in the message or known.
 */
export function orderNewTasks(
  tasks: readonly GraphTask[],
  wanted: readonly string[],
  known: (key: string) => boolean,
  /** Keys of scattered data lost with their worker: depending on one is a LostDataError. */
  lost: (key: string) => boolean = () => false,
): GraphTask[] {
  if (!Array.isArray(tasks)) throw new InvalidGraphError('tasks must be an array');
  if (!Array.isArray(wanted) || wanted.some((k) => typeof k !== 'string')) throw new InvalidGraphError('keys must be an array of strings');
  // Fast path (a map or a batch of submits): no task reads another, so only
  // shapes and recipes need checking, and no index of the graph is built.
  let anyDependencies = false;
  for (let i = 0; i < tasks.length; i++) {
    const task: unknown = tasks[i];
    checkShape(task, i);
    if (task.dependencies !== undefined && task.dependencies.length > 0) anyDependencies = true;
  }
  if (!anyDependencies) return independentTasks(tasks, wanted, known);
  const fresh = new Map<string, GraphTask>();
  const ordered: GraphTask[] = [];
  for (const task of tasks) {
    if (known(task.key) || fresh.has(task.key)) continue;
    if (task.runSpec === undefined) throw new InvalidGraphError(`task ${task.key} has no recipe and the scheduler does not know it`);
    fresh.set(task.key, task);
    ordered.push(task);
  }
  let internalEdges = false;
  const unknown: string[] = [];
  for (const task of ordered) {
    for (const dep of task.dependencies ?? []) {
      if (fresh.has(dep)) internalEdges = true;
      else if (!known(dep)) {
        if (lost(dep)) {
          throw new LostDataError(
            `${dep} was lost with the only worker that held it (scattered data cannot be recomputed), so ${task.key}, which depends on it, cannot run; scatter the data again`,
          );
        }
        unknown.push(`${task.key} -> ${dep}`);
      }
    }
  }
  if (unknown.length > 0) {
    throw new InvalidGraphError(`unknown dependencies (neither in the graph nor known to the scheduler): ${describeKeys(unknown)}`);
  }
  const missingWanted: string[] = [];
  for (const k of wanted) if (!fresh.has(k) && !known(k)) missingWanted.push(k);
  if (missingWanted.length > 0) throw new InvalidGraphError(`wanted keys that are neither in the graph nor known: ${describeKeys(missingWanted)}`);
  if (!internalEdges) return ordered;
  return topologicalOrder(fresh);
}

/**
 * Tasks without dependencies: those not yet known, in message order. A key
 * repeated in the message is returned each time; the scheduler keeps the first.
 */
function independentTasks(tasks: readonly GraphTask[], wanted: readonly string[], known: (key: string) => boolean): GraphTask[] {
  const out: GraphTask[] = [];
  for (const task of tasks) {
    if (known(task.key)) continue;
    if (task.runSpec === undefined) throw new InvalidGraphError(`task ${task.key} has no recipe and the scheduler does not know it`);
    out.push(task);
  }
  // Wanted keys are usually exactly the tasks, in order: check that without an index.
  let inOrder = wanted.length <= tasks.length;
  for (let i = 0; inOrder && i < wanted.length; i++) inOrder = wanted[i] === tasks[i]!.key;
  if (!inOrder) {
    const inMessage = new Set(tasks.map((t) => t.key));
    const missing = wanted.filter((k) => !inMessage.has(k) && !known(k));
    if (missing.length > 0) throw new InvalidGraphError(`wanted keys that are neither in the graph nor known: ${describeKeys(missing)}`);
  }
  return out;
}

/** Kahn's algorithm over the edges between new tasks; leftovers mean a cycle. */
function topologicalOrder(fresh: ReadonlyMap<string, GraphTask>): GraphTask[] {
  const pending = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  const ready: GraphTask[] = [];
  for (const task of fresh.values()) {
    let n = 0;
    for (const dep of new Set(task.dependencies ?? [])) {
      if (!fresh.has(dep)) continue;
      n += 1;
      const list = dependents.get(dep);
      if (list === undefined) dependents.set(dep, [task.key]);
      else list.push(task.key);
    }
    if (n === 0) ready.push(task);
    else pending.set(task.key, n);
  }
  const out: GraphTask[] = [];
  for (let i = 0; i < ready.length; i++) {
    const task = ready[i]!;
    out.push(task);
    for (const d of dependents.get(task.key) ?? []) {
      const left = pending.get(d)! - 1;
      if (left === 0) {
        pending.delete(d);
        ready.push(fresh.get(d)!);
      } else pending.set(d, left);
    }
  }
  if (pending.size > 0) throw new InvalidGraphError(`the graph has a cycle through: ${describeKeys([...pending.keys()])}`);
  return out;
}
