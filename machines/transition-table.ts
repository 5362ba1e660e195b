/**
 * Plain transition tables derived from xstate machine definitions.
 *
 * A task lifecycle is defined once as an xstate machine whose events are named
 * after the state they lead to (dask's "recommendations"): in state
 * `released`, event `waiting` moves to `waiting`. Running an xstate actor per
 * task is far too costly, so records carry a plain `state` string and move with
 * `table.move(from, to)`: a Map lookup that throws on an illegal edge.
 *
 * `table.dispatch(handlers)` names the handler of every edge (dask's
 * `_TRANSITIONS_TABLE`): the state code runs each transition through the
 * handler its table names, so the machine plus the handler map tell what runs.
 * Binding checks, at module load, that handlers and edges agree one for one.
 */
import type { AnyStateMachine } from 'xstate';

/**
 * A task's lifecycle was asked to move along an edge its machine does not
 * have: an internal consistency check, and a bug to report if you see it.
 *
 * @example
 * ```ts
 * try { table.move('waiting', 'memory'); } catch (e) { if (e instanceof InvalidTransitionError) console.error(e.message); }
 * ```
 */
export class InvalidTransitionError extends Error {
  override readonly name = 'InvalidTransitionError';
  constructor(
    readonly machine: string,
    readonly from: string,
    readonly to: string,
    readonly key?: string,
  ) {
    super(`${machine}: no transition ${from} -> ${to}${key === undefined ? '' : ` for ${key}`}`);
  }
}

export class TransitionTable<S extends string> {
  private readonly edges: ReadonlyMap<S, ReadonlySet<S>>;

  constructor(
    readonly machineId: string,
    readonly states: readonly S[],
    edges: ReadonlyMap<S, ReadonlySet<S>>,
  ) {
    this.edges = edges;
  }

  /** Legal targets from `from`. */
  targets(from: S): ReadonlySet<S> {
    return this.edges.get(from) ?? new Set();
  }

  can(from: S, to: S): boolean {
    return this.edges.get(from)?.has(to) ?? false;
  }

  /** Returns `to` when the edge is legal; throws InvalidTransitionError otherwise. */
  move(from: S, to: S, key?: string): S {
    if (this.edges.get(from)?.has(to) !== true) {
      throw new InvalidTransitionError(this.machineId, from, to, key);
    }
    return to;
  }

  /**
   * dask's `_transition` rule: a legal direct edge is taken as is; otherwise,
   * when neither end is `via` (dask: `released`), the move goes `from -> via -> to`.
   * Returns the states to pass through, in order; throws InvalidTransitionError
   * when neither path is legal.
   */
  route(from: S, to: S, via: S, key?: string): readonly [S] | readonly [S, S] {
    if (this.edges.get(from)?.has(to) === true) return [to];
    if (from !== via && to !== via && this.can(from, via) && this.can(via, to)) return [via, to];
    throw new InvalidTransitionError(this.machineId, from, to, key);
  }

  /** Binds a handler to every edge; throws when the handlers and the machine's edges do not agree one for one. */
  dispatch<H>(handlers: EdgeHandlers<S, H>): DispatchTable<S, H> {
    return new DispatchTable(this, handlers);
  }
}

/** A handler for each edge: `handlers[from][to]`. */
export type EdgeHandlers<S extends string, H> = { readonly [F in S]?: { readonly [T in S]?: H } };

/** A transition table whose every edge names its handler. */
export class DispatchTable<S extends string, H> {
  private readonly byEdge = new Map<S, Map<S, H>>();

  constructor(
    readonly table: TransitionTable<S>,
    handlers: EdgeHandlers<S, H>,
  ) {
    const id = table.machineId;
    for (const from of Object.keys(handlers) as S[]) {
      if (!table.states.includes(from)) throw new Error(`${id}: handlers name a state ${from} the machine does not have`);
    }
    for (const from of table.states) {
      const row = new Map<S, H>();
      const given = (handlers[from] ?? {}) as Partial<Record<S, H>>;
      for (const to of Object.keys(given) as S[]) {
        if (!table.can(from, to)) throw new Error(`${id}: a handler names ${from} -> ${to}, which the machine does not have`);
      }
      for (const to of table.targets(from)) {
        const handler = given[to];
        if (handler === undefined) throw new Error(`${id}: the edge ${from} -> ${to} has no handler`);
        row.set(to, handler);
      }
      this.byEdge.set(from, row);
    }
  }

  /** The handler of `from -> to`, or undefined when the machine has no such edge. */
  handler(from: S, to: S): H | undefined {
    return this.byEdge.get(from)?.get(to);
  }

  /** Every edge with its handler (for the agreement test and pictures). */
  edges(): Array<{ from: S; to: S; handler: H }> {
    const out: Array<{ from: S; to: S; handler: H }> = [];
    for (const [from, row] of this.byEdge) for (const [to, handler] of row) out.push({ from, to, handler });
    return out;
  }
}

/**
 * Reads the top-level states of `machine` and their `on` transitions. Every
 * event must be named after its target state; anything else is a definition
 * error and throws here, at module load.
 */
export function tableFromMachine<S extends string>(machine: AnyStateMachine): TransitionTable<S> {
  const edges = new Map<S, Set<S>>();
  const states = Object.keys(machine.root.states) as S[];
  for (const name of states) {
    const node = machine.root.states[name]!;
    const targets = new Set<S>();
    for (const [event, transitions] of node.transitions) {
      for (const t of transitions) {
        const target = t.target?.[0]?.key;
        if (target !== event) {
          throw new Error(`${machine.id}: event ${event} in ${name} must lead to the state of the same name, not ${String(target)}`);
        }
        targets.add(target as S);
      }
    }
    edges.set(name, targets);
  }
  return new TransitionTable(machine.id, states, edges);
}
