/**
 * The recipe of a key as the scheduler knows it: the graph tasks (key,
 * dependencies, run spec, restrictions, retries, priority) of the key and of
 * every dependency it would need to compute again — what a durable scheduler
 * writes for fire-and-forget work, so that a restart runs it even if the
 * client that fired it is gone.
 */
import type { GraphTask } from '../protocol/messages.js';
import type { TaskRecord } from './records.js';

/** The tasks to submit to compute `key` from nothing; keys without a run spec (scattered data) are only referred to. */
export function recipesOf(tasks: ReadonlyMap<string, TaskRecord>, key: string): GraphTask[] {
  const out: GraphTask[] = [];
  const seen = new Set<string>();
  const stack = [key];
  while (stack.length > 0) {
    const k = stack.pop()!;
    if (seen.has(k)) continue;
    seen.add(k);
    const ts = tasks.get(k);
    if (ts === undefined || ts.runSpec === undefined) continue;
    const task: GraphTask = { key: k, dependencies: ts.dependencies.map((dep) => dep.key), runSpec: ts.runSpec };
    if (ts.restrictions !== undefined) task.restrictions = ts.restrictions;
    if (ts.retries > 0) task.retries = ts.retries;
    if (ts.userPriority !== 0) task.priority = ts.userPriority;
    out.push(task);
    for (const dep of ts.dependencies) if (!seen.has(dep.key)) stack.push(dep.key);
  }
  return out;
}
