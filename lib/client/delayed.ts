/**
 * Lazy task nodes: `delayed(fn)(...args)` records a call without running it;
 * arguments may be other delayed nodes or Futures. `client.compute(node)`
 * sends the node's whole graph in one update-graph and returns a Future.
 *
 * The task is encoded when the node is made, so a bad argument or an
 * unshippable function is refused at once. As in dask, keys are random unless
 * `pure: true` is given (then the same call gives the same key).
 */
import type { GraphTask } from '../protocol/messages.js';
import type { RemoteFunction } from '../task-function.js';
import { taskKeyOf, type TaskReference } from './arguments.js';
import type { Future } from './future.js';
import { buildTask, type TaskFunction } from './task-spec.js';

export interface DelayedOptions {
  /** Hash function and arguments into the key (default false, as dask.delayed). */
  pure?: boolean;
  /** Key prefix instead of the function's name. */
  name?: string;
  /** The exact key. */
  key?: string;
}

/** An argument of a delayed call: the value, a Future of it, or a delayed node producing it. */
export type DelayedArg<T> = T | Future<T> | Delayed<T>;

/**
 * A lazy call made by `delayed(fn)(...args)`: nothing runs until
 * `client.compute` (or `persist`) submits its graph.
 *
 * @example
 * ```ts
 * const inc = delayed((x: number) => x + 1);
 * const node: Delayed<number> = inc(inc(1));
 * console.log(await client.compute(node).result());   // 3
 * ```
 */
export class Delayed<T = unknown> implements TaskReference {
  /** Phantom: the type of the value this node computes. */
  declare readonly __value?: T;

  constructor(
    readonly task: GraphTask,
    /** The Futures and delayed nodes among the arguments, by key. */
    readonly references: ReadonlyMap<string, TaskReference>,
  ) {}

  get key(): string {
    return this.task.key;
  }

  get [taskKeyOf](): string {
    return this.task.key;
  }

  toString(): string {
    return `Delayed(${JSON.stringify(this.task.key)})`;
  }
}

export function isDelayed(value: unknown): value is Delayed {
  return value instanceof Delayed;
}

/**
 * Wraps `fn` so that calling it builds a Delayed node instead of running.
 *
 * @example
 * ```ts
 * const add = delayed((a: number, b: number) => a + b);
 * console.log(await client.compute(add(1, add(2, 3))).result());   // 6
 * ```
 */
export function delayed<A extends unknown[], R>(
  fn: (...args: A) => R,
  options?: DelayedOptions,
): (...args: NoInfer<{ [K in keyof A]: DelayedArg<A[K]> }>) => Delayed<Awaited<R>>;
export function delayed<R = unknown>(fn: RemoteFunction, options?: DelayedOptions): (...args: unknown[]) => Delayed<R>;
export function delayed(fn: TaskFunction, options: DelayedOptions = {}): (...args: unknown[]) => Delayed {
  return (...args: unknown[]) => {
    const { task, references } = buildTask(fn, args, {
      pure: options.pure === true,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.key !== undefined ? { key: options.key } : {}),
    });
    return new Delayed(task, references);
  };
}

/**
 * The tasks of every delayed node reachable from `roots`, dependencies first,
 * each once; plus the Futures they read (those are already on the scheduler).
 */
export function collectDelayedGraph(roots: readonly Delayed[]): { tasks: GraphTask[]; futures: Map<string, TaskReference> } {
  const tasks: GraphTask[] = [];
  const futures = new Map<string, TaskReference>();
  const visited = new Set<Delayed>();
  // Iterative post-order: deep chains must not overflow the stack.
  const stack: Array<{ node: Delayed; expanded: boolean }> = roots.map((node) => ({ node, expanded: false }));
  stack.reverse();
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (visited.has(top.node)) {
      stack.pop();
      continue;
    }
    if (top.expanded) {
      stack.pop();
      visited.add(top.node);
      tasks.push(top.node.task);
      continue;
    }
    top.expanded = true;
    for (const [key, reference] of top.node.references) {
      if (reference instanceof Delayed) {
        if (!visited.has(reference)) stack.push({ node: reference, expanded: false });
      } else {
        futures.set(key, reference);
      }
    }
  }
  return { tasks, futures };
}
