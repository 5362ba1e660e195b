/**
 * The recipes (graph tasks) of the keys a client holds futures for, kept so
 * that the client can submit them again to a scheduler that restarted and
 * forgot them. A recipe stays while some held key needs it (the key itself or
 * a dependency of one); the rest is swept now and then, so that recording a
 * submission stays one Map.set.
 */
import type { GraphTask } from '../protocol/messages.js';

const FIRST_SWEEP = 1024;

export interface RecipeClosure {
  /** Recipes of the keys reached from the roots. */
  tasks: GraphTask[];
  /** Keys reached that have no recipe here (scattered data, datasets, keys of other clients). */
  recipeLess: Set<string>;
}

export class RecipeBook {
  private readonly recipes = new Map<string, GraphTask>();
  private sweepAt = FIRST_SWEEP;

  get size(): number {
    return this.recipes.size;
  }

  has(key: string): boolean {
    return this.recipes.has(key);
  }

  get(key: string): GraphTask | undefined {
    return this.recipes.get(key);
  }

  /** Keeps the recipe of `task` (tasks without a runSpec only name a key the scheduler knows). */
  record(task: GraphTask, roots: () => Iterable<string>): void {
    if (task.runSpec === undefined) return;
    this.recipes.set(task.key, task);
    if (this.recipes.size >= this.sweepAt) this.sweep(roots());
  }

  /** Every recipe reachable from `roots` through dependencies (iterative: graphs may be deep). */
  closure(roots: Iterable<string>): RecipeClosure {
    const tasks: GraphTask[] = [];
    const recipeLess = new Set<string>();
    const seen = new Set<string>();
    const stack: string[] = [...roots];
    while (stack.length > 0) {
      const key = stack.pop()!;
      if (seen.has(key)) continue;
      seen.add(key);
      const task = this.recipes.get(key);
      if (task === undefined) {
        recipeLess.add(key);
        continue;
      }
      tasks.push(task);
      for (const dep of task.dependencies) if (!seen.has(dep)) stack.push(dep);
    }
    return { tasks, recipeLess };
  }

  /** Drops every recipe no root needs. */
  sweep(roots: Iterable<string>): void {
    const live = new Set(this.closure(roots).tasks.map((task) => task.key));
    for (const key of this.recipes.keys()) if (!live.has(key)) this.recipes.delete(key);
    this.sweepAt = Math.max(FIRST_SWEEP, 2 * this.recipes.size);
  }
}

export interface Resubmission {
  /** What to send in one update-graph: recipes, and the keys wanted. */
  tasks: GraphTask[];
  keys: string[];
  /** Roots that cannot be resubmitted, each with the recipe-less key it needs that nobody has. */
  lost: Map<string, string>;
}

/**
 * Which of `roots` a client can submit again to a scheduler that forgot
 * them. A key that is `available` (in memory on some worker: brought back
 * after the restart) needs nothing; a key with a recipe needs its recipe and
 * whatever its dependencies need; a key without a recipe that is not
 * available cannot be had, and every root needing it is lost, naming it.
 */
export function planResubmission(roots: readonly string[], book: RecipeBook, available: (key: string) => boolean): Resubmission {
  // The missing recipe-less key behind each key visited ('' when it can be had), bottom-up without recursion.
  const culprit = new Map<string, string>();
  const expanded = new Set<string>();
  const resolve = (start: string): string => {
    const stack: string[] = [start];
    while (stack.length > 0) {
      const key = stack[stack.length - 1]!;
      if (culprit.has(key)) {
        stack.pop();
        continue;
      }
      const task = book.get(key);
      if (task === undefined || available(key)) {
        culprit.set(key, task !== undefined || available(key) ? '' : key);
        stack.pop();
        continue;
      }
      const pending = task.dependencies.filter((dep) => !culprit.has(dep));
      if (pending.length > 0 && !expanded.has(key)) {
        expanded.add(key);
        stack.push(...pending);
        continue;
      }
      // All dependencies resolved (or, on a cycle no valid submission makes, the unresolved one is the culprit).
      const missing = task.dependencies.map((dep) => culprit.get(dep) ?? dep).find((c) => c !== '');
      culprit.set(key, missing ?? '');
      stack.pop();
    }
    return culprit.get(start)!;
  };
  const keys: string[] = [];
  const lost = new Map<string, string>();
  for (const root of roots) {
    const missing = resolve(root);
    if (missing === '') keys.push(root);
    else lost.set(root, missing);
  }
  const tasks: GraphTask[] = [];
  for (const [key, missing] of culprit) {
    if (missing !== '' || available(key)) continue;
    const task = book.get(key);
    if (task !== undefined) tasks.push(task);
  }
  return { tasks, keys, lost };
}
