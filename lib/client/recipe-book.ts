/**
 * The recipes (graph tasks) of the keys a client holds futures for, kept so
 * that the client can submit them again to a scheduler that restarted and
 * forgot them. A recipe stays while its key is held or some kept recipe
 * depends on it: each key counts the kept recipes that name it as a
 * dependency, and releasing a key drops its recipe (and, in turn, those of
 * dependencies nothing else needs) at once. Recording and releasing cost in
 * the size of one task, never in the number held: a client holding a million
 * futures never walks them all (no sweep that would hold the event loop).
 */
import type { GraphTask } from '../protocol/messages.js';
import { ShardedMap } from '../sharded-map.js';
import { RecipeSlabs, slabbable } from './recipe-slabs.js';

export interface RecipeClosure {
  /** Recipes of the keys reached from the roots. */
  tasks: GraphTask[];
  /** Keys reached that have no recipe here (scattered data, datasets, keys of other clients). */
  recipeLess: Set<string>;
}

export class RecipeBook {
  /** A recipe, or the handle of a plain one packed in a slab (recipe-slabs.ts: a held map row costs no objects). */
  private readonly recipes = new ShardedMap<GraphTask | number>();
  private readonly slabs = new RecipeSlabs();
  /** How many kept recipes list each key among their dependencies (absent: none). */
  private readonly dependents = new Map<string, number>();

  /** `isHeld(key)`: whether the client still holds the key (its recipe must stay). */
  constructor(private readonly isHeld: (key: string) => boolean) {}

  get size(): number {
    return this.recipes.size;
  }

  has(key: string): boolean {
    return this.recipes.has(key);
  }

  get(key: string): GraphTask | undefined {
    const recipe = this.recipes.get(key);
    return typeof recipe === 'number' ? this.slabs.task(key, recipe) : recipe;
  }

  /** Slabs of plain recipes in use (for tests). */
  get slabCount(): number {
    return this.slabs.count;
  }

  /** Keeps the recipe of `task` (tasks without a runSpec only name a key the scheduler knows). */
  record(task: GraphTask): void {
    if (task.runSpec === undefined) return;
    const old = this.recipes.get(task.key);
    if (slabbable(task)) {
      this.recipes.set(task.key, this.slabs.add(task));
    } else {
      this.recipes.set(task.key, task);
      for (const dep of task.dependencies) this.dependents.set(dep, (this.dependents.get(dep) ?? 0) + 1);
    }
    // A recipe recorded again: its old dependencies lose one dependent each.
    if (old !== undefined) this.released(this.unlink(old));
  }

  /**
   * `keys` are no longer held (or were recorded without being wanted): drops
   * each recipe that nothing kept depends on, then whatever that frees.
   */
  released(keys: Iterable<string>): void {
    const stack = [...keys];
    while (stack.length > 0) {
      const key = stack.pop()!;
      if (this.dependents.has(key) || this.isHeld(key)) continue;
      const recipe = this.recipes.get(key);
      if (recipe === undefined) continue;
      this.recipes.delete(key);
      for (const dep of this.unlink(recipe)) stack.push(dep);
    }
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
      const task = this.get(key);
      if (task === undefined) {
        recipeLess.add(key);
        continue;
      }
      tasks.push(task);
      for (const dep of task.dependencies) if (!seen.has(dep)) stack.push(dep);
    }
    return { tasks, recipeLess };
  }

  /** Takes the recipe's counts off its dependencies (a slab row has none: its row is dropped); returns those left with no dependent. */
  private unlink(task: GraphTask | number): string[] {
    if (typeof task === 'number') {
      this.slabs.drop(task);
      return [];
    }
    const orphans: string[] = [];
    for (const dep of task.dependencies) {
      const count = (this.dependents.get(dep) ?? 1) - 1;
      if (count > 0) this.dependents.set(dep, count);
      else if (this.dependents.delete(dep)) orphans.push(dep);
    }
    return orphans;
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
