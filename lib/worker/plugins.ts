/**
 * Worker plugins (dask's WorkerPlugin), registered by a client with
 * `client.registerWorkerPlugin(Class, ...args)`: the class travels by source
 * like an actor class and every current and future worker constructs it.
 * `setup(worker)` runs when it arrives (awaited; a failure is reported back to
 * the client), `teardown(worker)` when it is replaced by one of the same name
 * or the worker closes, and `transition(key, start, finish)` on every task
 * state change on that worker. A throwing transition hook is logged and
 * changes nothing; with no plugin with a transition hook, the worker state
 * has no observer at all.
 */
import type { Logger } from 'pino';

/**
 * A worker plugin (`client.registerWorkerPlugin`): constructed on every current and future worker, with `setup`, `teardown` and `transition` hooks.
 */
export interface WorkerPlugin {
  setup?(worker: unknown): void | Promise<void>;
  teardown?(worker: unknown): void | Promise<void>;
  transition?(key: string, start: string, finish: string): void;
}

export type WorkerTransitionObserver = (key: string, start: string, finish: string) => void;

export class WorkerPluginHost {
  private readonly plugins = new Map<string, WorkerPlugin>();
  private transitionPlugins: Array<[string, WorkerPlugin]> = [];
  /** Plugins whose transition hook already failed once: later failures go to debug, not to the warn log. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly log: Logger,
    /** Sets (or clears) the worker state's transition observer. */
    private readonly observe: (observer: WorkerTransitionObserver | undefined) => void,
  ) {}

  names(): string[] {
    return [...this.plugins.keys()];
  }

  /** The plugin instance registered under `name` (diagnostics, tests). */
  get(name: string): WorkerPlugin | undefined {
    return this.plugins.get(name);
  }

  /** Tears down a plugin of the same name first; throws what `setup` throws (the plugin is then not kept). */
  async add(name: string, plugin: WorkerPlugin, worker: unknown): Promise<void> {
    if (typeof plugin !== 'object' || plugin === null) throw new TypeError(`worker plugin ${name} must construct an object`);
    await this.remove(name, worker);
    await plugin.setup?.(worker);
    this.plugins.set(name, plugin);
    this.refresh();
  }

  /** Tears the plugin down (a failing teardown is logged); false when there is none by that name. */
  async remove(name: string, worker: unknown): Promise<boolean> {
    const plugin = this.plugins.get(name);
    if (plugin === undefined) return false;
    this.plugins.delete(name);
    this.refresh();
    try {
      await plugin.teardown?.(worker);
    } catch (error) {
      this.log.error({ err: error, plugin: name }, `worker plugin ${name}: teardown failed`);
    }
    return true;
  }

  async teardownAll(worker: unknown): Promise<void> {
    for (const name of [...this.plugins.keys()].reverse()) await this.remove(name, worker);
  }

  private readonly onTransition: WorkerTransitionObserver = (key, start, finish) => {
    for (const [name, plugin] of this.transitionPlugins) {
      try {
        plugin.transition!(key, start, finish);
      } catch (error) {
        const first = !this.failing.has(name);
        this.failing.add(name);
        this.log[first ? 'warn' : 'debug']({ err: error, plugin: name, key, start, finish }, `worker plugin ${name}: transition hook failed${first ? ' (further failures are logged at debug level)' : ''}`);
      }
    }
  };

  private refresh(): void {
    this.transitionPlugins = [...this.plugins].filter(([, plugin]) => typeof plugin.transition === 'function');
    this.observe(this.transitionPlugins.length > 0 ? this.onTransition : undefined);
  }
}
