/**
 * Scheduler plugins (dask's SchedulerPlugin): objects in the scheduler's
 * process told about graphs, task transitions, workers and clients coming and
 * going. Each hook is optional. A plugin sees a read-only view of the
 * scheduler (read-only.ts); a hook that throws (or rejects) is logged with the
 * plugin's name and never reaches the scheduler.
 *
 * Cost: the transition hook is the hot one. SchedulerState calls its
 * `transitionObserver` only when one is set, and the host sets it only while
 * some plugin has a `transition` method: with none, a task transition costs
 * one undefined check.
 */
import type { SchedulerTaskState } from '../../machines/scheduler-task.js';
import { childLogger, type Logger } from '../logging.js';
import { readOnly } from './read-only.js';
import type { SchedulerState, TransitionObserver } from './state.js';
import type { TaskRecord } from './records.js';

/** What a plugin sees of the scheduler: live, but any write throws. */
export interface SchedulerView {
  readonly id: string;
  readonly address: string;
  readonly state: SchedulerState;
  /** Shortcuts into `state`: tasks by key, workers by address, clients by id. */
  readonly tasks: SchedulerState['tasks'];
  readonly workers: SchedulerState['workers'];
  readonly clients: SchedulerState['clients'];
  /** Logs an event from the plugin (scheduler.logEvent in dask). */
  logEvent(topic: string | string[], msg: unknown): void;
}

/**
 * What a scheduler plugin's `transition(key, start, finish, info)` hook is told besides the edge (e.g. the worker involved).
 */
export interface TransitionInfo {
  stimulusId: string;
  /** For -> memory and -> erred: the worker that reported it. */
  worker?: string;
}

/**
 * What a scheduler plugin's `updateGraph(scheduler, info)` hook is told: the client and the keys it submitted.
 */
export interface UpdateGraphInfo {
  client: string;
  /** The keys the client asked for. */
  keys: string[];
  /** Every task key sent in this update. */
  tasks: string[];
}

/**
 * A scheduler plugin: hooks the scheduler calls on graphs, transitions, workers and clients (`Scheduler.start({ plugins })`, `scheduler.addPlugin`, `dscheduler --preload`). A throwing hook is logged, never fatal.
 */
export interface SchedulerPlugin {
  /** Identifies the plugin in logs and for `removePlugin`; adding a name again replaces the old plugin. */
  name?: string;
  start?(scheduler: SchedulerView): void | Promise<void>;
  updateGraph?(scheduler: SchedulerView, info: UpdateGraphInfo): void;
  transition?(key: string, start: SchedulerTaskState, finish: SchedulerTaskState, info: TransitionInfo): void;
  addWorker?(scheduler: SchedulerView, worker: string): void | Promise<void>;
  removeWorker?(scheduler: SchedulerView, worker: string): void | Promise<void>;
  addClient?(scheduler: SchedulerView, client: string): void;
  removeClient?(scheduler: SchedulerView, client: string): void;
  /** An event was logged on `topic` (by a client, a worker, a task or the scheduler). */
  logEvent?(topic: string, msg: unknown): void;
  close?(): void | Promise<void>;
}

type Hook = Exclude<keyof SchedulerPlugin, 'name'>;

let anonymous = 0;

export function pluginName(plugin: SchedulerPlugin): string {
  if (typeof plugin.name === 'string' && plugin.name !== '') return plugin.name;
  const named = plugin as { constructor?: { name?: string }; __autoName?: string };
  return `${named.constructor?.name || 'plugin'}-${++anonymous}`;
}

export class PluginHost {
  private readonly plugins = new Map<string, SchedulerPlugin>();
  private readonly log: Logger;
  /** Plugins with a transition hook, as an array for a tight loop. */
  private transitionPlugins: Array<[string, SchedulerPlugin]> = [];
  /** Plugins whose transition hook already failed once: later failures go to debug, not to the warn log. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly state: SchedulerState,
    readonly view: SchedulerView,
  ) {
    this.log = childLogger('scheduler-plugins');
  }

  get size(): number {
    return this.plugins.size;
  }

  names(): string[] {
    return [...this.plugins.keys()];
  }

  /** Awaits the plugin's `start`, then installs it (a plugin already named so is closed and replaced). */
  async add(plugin: SchedulerPlugin): Promise<string> {
    if (typeof plugin !== 'object' || plugin === null) throw new TypeError(`a scheduler plugin must be an object, got ${typeof plugin}`);
    const name = pluginName(plugin);
    const old = this.plugins.get(name);
    if (old !== undefined) {
      this.log.info({ plugin: name }, 'replacing a scheduler plugin of the same name');
      await this.remove(name);
    }
    await this.callAsync(name, plugin, 'start', [this.view]);
    this.plugins.set(name, plugin);
    this.refreshTransitionPlugins();
    return name;
  }

  /** Removes (and closes) the plugin named `name`; false when there is none. */
  async remove(name: string): Promise<boolean> {
    const plugin = this.plugins.get(name);
    if (plugin === undefined) return false;
    this.plugins.delete(name);
    this.refreshTransitionPlugins();
    await this.callAsync(name, plugin, 'close', []);
    return true;
  }

  updateGraph(info: UpdateGraphInfo): void {
    if (this.plugins.size > 0) this.each('updateGraph', [this.view, info]);
  }

  addWorker(worker: string): void {
    if (this.plugins.size > 0) this.each('addWorker', [this.view, worker]);
  }

  removeWorker(worker: string): void {
    if (this.plugins.size > 0) this.each('removeWorker', [this.view, worker]);
  }

  addClient(client: string): void {
    if (this.plugins.size > 0) this.each('addClient', [this.view, client]);
  }

  removeClient(client: string): void {
    if (this.plugins.size > 0) this.each('removeClient', [this.view, client]);
  }

  logEvent(topic: string, msg: unknown): void {
    if (this.plugins.size > 0) this.each('logEvent', [topic, msg]);
  }

  /** Closes every plugin (their `close` hooks are awaited, failures logged). */
  async close(): Promise<void> {
    const all = [...this.plugins];
    this.plugins.clear();
    this.refreshTransitionPlugins();
    await Promise.all(all.map(([name, plugin]) => this.callAsync(name, plugin, 'close', [])));
  }

  private readonly onTransition: TransitionObserver = (ts, start, finish, stimulusId) => {
    const info: TransitionInfo = { stimulusId };
    const worker = workerOf(ts, finish);
    if (worker !== undefined) info.worker = worker;
    for (const [name, plugin] of this.transitionPlugins) {
      try {
        plugin.transition!(ts.key, start, finish, info);
      } catch (error) {
        const first = !this.failing.has(name);
        this.failing.add(name);
        this.log[first ? 'warn' : 'debug']({ err: error, plugin: name, key: ts.key, start, finish }, `scheduler plugin ${name}: transition hook failed${first ? ' (further failures are logged at debug level)' : ''}`);
      }
    }
  };

  private refreshTransitionPlugins(): void {
    this.transitionPlugins = [...this.plugins].filter(([, plugin]) => typeof plugin.transition === 'function');
    this.state.transitionObserver = this.transitionPlugins.length > 0 ? this.onTransition : undefined;
  }

  private each(hook: Hook, args: unknown[]): void {
    for (const [name, plugin] of this.plugins) {
      const fn = plugin[hook] as ((...a: unknown[]) => unknown) | undefined;
      if (typeof fn !== 'function') continue;
      try {
        const result = fn.apply(plugin, args);
        if (isPromiseLike(result)) result.then(undefined, (error: unknown) => this.failed(name, hook, error));
      } catch (error) {
        this.failed(name, hook, error);
      }
    }
  }

  private async callAsync(name: string, plugin: SchedulerPlugin, hook: Hook, args: unknown[]): Promise<void> {
    const fn = plugin[hook] as ((...a: unknown[]) => unknown) | undefined;
    if (typeof fn !== 'function') return;
    try {
      await fn.apply(plugin, args);
    } catch (error) {
      this.failed(name, hook, error);
    }
  }

  private failed(name: string, hook: string, error: unknown): void {
    this.log.error({ err: error, plugin: name, hook }, `scheduler plugin ${name}: ${hook} hook failed`);
  }
}

function workerOf(ts: TaskRecord, finish: SchedulerTaskState): string | undefined {
  if (finish === 'erred') return ts.erredOn?.address;
  if (finish === 'memory') {
    const holders = ts.whoHas;
    if (holders === undefined) return undefined;
    return holders instanceof Set ? [...holders].pop()?.address : (holders as { address: string }).address;
  }
  return undefined;
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The view handed to plugins: the scheduler's live state behind read-only proxies. */
export function schedulerView(
  state: SchedulerState,
  identity: { id: string; address: () => string },
  logEvent: (topic: string | string[], msg: unknown) => void,
): SchedulerView {
  const view: SchedulerView = {
    id: identity.id,
    get address() {
      return identity.address();
    },
    state: readOnly(state),
    tasks: readOnly(state.tasks),
    workers: readOnly(state.workers),
    clients: readOnly(state.clients),
    logEvent,
  };
  return Object.freeze(view);
}
