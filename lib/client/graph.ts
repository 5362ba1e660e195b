/**
 * dask-style task graphs for `client.get(graph, keys)`:
 * `{ key: value | [fn, ...args] }`. Inside a task's arguments a string equal
 * to a key of the graph stands for that key's value, also nested in arrays and
 * plain objects; an array whose first item is a function is an inline task.
 * A plain value (or a bare key: an alias) is a task that returns it.
 *
 * The graph is checked before anything is sent: a cycle, or an output key the
 * graph does not have, is an InvalidGraphError. Only what the outputs need is
 * sent (culling). Sent keys are `<graph key>-<hash of the task>`, so two
 * graphs that reuse a key name for different work never collide.
 */
import { InvalidGraphError } from '../errors.js';
import type { GraphTask } from '../protocol/messages.js';
import { isRemoteFunction } from '../task-function.js';
import { isPlainObject, taskKeyOf, type TaskReference } from './arguments.js';
import { buildTask, type TaskFunction } from './task-spec.js';

/**
 * A task graph for `client.get`: `{ key: value | [fn, ...args] }`, where an argument string equal to a key of the graph means that key's value.
 */
export type TaskGraph = Record<string, unknown>;

/** Output keys: one key, or nested arrays of keys (the result has the same shape). */
export type KeySpec = string | readonly KeySpec[];

/** One task of the graph; inline tasks become nodes of their own. */
class GraphNode implements TaskReference {
  /** The key sent to the scheduler, set once the node's dependencies have theirs. */
  finalKey: string | undefined;
  fn: TaskFunction = identity;
  args: unknown[] = [];
  readonly dependencies: GraphNode[] = [];

  constructor(readonly label: string) {}

  get [taskKeyOf](): string {
    if (this.finalKey === undefined) throw new Error(`internal: key of ${this.label} read before it was built`);
    return this.finalKey;
  }
}

function identity<T>(value: T): T {
  return value;
}

function isTaskFunction(value: unknown): value is TaskFunction {
  return typeof value === 'function' || isRemoteFunction(value);
}

/** A graph entry that is a task: `[fn, ...args]`. */
function isTaskTuple(value: unknown): value is [TaskFunction, ...unknown[]] {
  return Array.isArray(value) && value.length > 0 && isTaskFunction(value[0]);
}

export interface CompiledGraph {
  /** Tasks in dependency order, only those the outputs need. */
  tasks: GraphTask[];
  /** Sent key of every graph key the outputs need. */
  keys: Map<string, string>;
}

/** Checks `graph` and turns the part `outputs` need into GraphTasks. */
export function compileGraph(graph: TaskGraph, outputs: readonly string[]): CompiledGraph {
  if (typeof graph !== 'object' || graph === null || !isPlainObject(graph)) {
    throw new InvalidGraphError('a task graph must be a plain object { key: value | [fn, ...args] }');
  }
  const nodes = new Map<string, GraphNode>();
  for (const key of Object.keys(graph)) nodes.set(key, new GraphNode(key));
  for (const key of outputs) {
    if (!nodes.has(key)) throw new InvalidGraphError(`key ${JSON.stringify(key)} is not in the graph`);
  }
  for (const [key, node] of nodes) parseEntry(node, graph[key], nodes);

  const order = topologicalOrder(outputs.map((key) => nodes.get(key)!));
  const tasks: GraphTask[] = [];
  for (const node of order) {
    const { task } = buildTask(node.fn, node.args, { name: node.label });
    node.finalKey = task.key;
    tasks.push(task);
  }
  const keys = new Map<string, string>();
  for (const [key, node] of nodes) if (node.finalKey !== undefined) keys.set(key, node.finalKey);
  return { tasks, keys };
}

function parseEntry(node: GraphNode, entry: unknown, nodes: Map<string, GraphNode>): void {
  let inline = 0;
  const substituteFor = (owner: GraphNode) => {
    const substitute = (value: unknown): unknown => {
      if (typeof value === 'string') {
        const target = nodes.get(value);
        if (target === undefined) return value;
        owner.dependencies.push(target);
        return target;
      }
      if (isTaskTuple(value)) {
        const child = new GraphNode(`${node.label}-inline${inline++}`);
        parseTask(child, value, substituteFor(child));
        owner.dependencies.push(child);
        return child;
      }
      if (Array.isArray(value)) return value.map(substitute);
      if (typeof value === 'object' && value !== null && isPlainObject(value)) {
        const out: Record<string, unknown> = {};
        for (const name of Object.keys(value)) out[name] = substitute(value[name]);
        return out;
      }
      return value;
    };
    return substitute;
  };
  if (isTaskTuple(entry)) parseTask(node, entry, substituteFor(node));
  else node.args = [substituteFor(node)(entry)];
}

function parseTask(node: GraphNode, [fn, ...args]: [TaskFunction, ...unknown[]], substitute: (value: unknown) => unknown): void {
  node.fn = fn;
  node.args = args.map(substitute);
}

/** Dependencies first; InvalidGraphError naming the cycle if there is one. */
function topologicalOrder(roots: readonly GraphNode[]): GraphNode[] {
  const order: GraphNode[] = [];
  const state = new Map<GraphNode, 'open' | 'done'>();
  for (const root of roots) {
    if (state.has(root)) continue;
    // Iterative depth-first search; `path` holds the open nodes, for the cycle message.
    const stack: Array<{ node: GraphNode; next: number }> = [{ node: root, next: 0 }];
    state.set(root, 'open');
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      const dependency = frame.node.dependencies[frame.next++];
      if (dependency === undefined) {
        stack.pop();
        state.set(frame.node, 'done');
        order.push(frame.node);
        continue;
      }
      const seen = state.get(dependency);
      if (seen === 'done') continue;
      if (seen === 'open') {
        const start = stack.findIndex((f) => f.node === dependency);
        const cycle = [...stack.slice(start).map((f) => f.node.label), dependency.label];
        throw new InvalidGraphError(`the graph has a cycle: ${cycle.join(' -> ')}`);
      }
      state.set(dependency, 'open');
      stack.push({ node: dependency, next: 0 });
    }
  }
  return order;
}

/** The keys in a KeySpec, flattened. */
export function flattenKeys(spec: KeySpec, into: string[] = []): string[] {
  if (typeof spec === 'string') into.push(spec);
  else if (Array.isArray(spec)) for (const item of spec) flattenKeys(item, into);
  else throw new InvalidGraphError(`keys must be a key or nested arrays of keys, got ${typeof spec}`);
  return into;
}

/** `spec` with each key replaced by `valueOf(key)`. */
export function mapKeys(spec: KeySpec, valueOf: (key: string) => unknown): unknown {
  if (typeof spec === 'string') return valueOf(spec);
  return (spec as readonly KeySpec[]).map((item) => mapKeys(item, valueOf));
}
