/**
 * `dscheduler --preload MODULE`: modules imported into the scheduler's process
 * once it listens. A module exports `plugin` (a scheduler plugin object, or a
 * class constructed without arguments), which is added, or `setup(scheduler)`,
 * which is awaited with the Scheduler itself (to add plugins, log events...).
 * A module with neither, or one that fails to load, stops the command with a
 * clear PreloadError.
 */
import { PreloadError, preloadUrl } from '../nanny/preload.js';
import type { SchedulerPlugin } from '../scheduler/plugins.js';

export interface PluginTarget {
  addPlugin(plugin: SchedulerPlugin): Promise<string>;
}

export async function preloadIntoScheduler<S extends PluginTarget>(specifiers: readonly string[], scheduler: S, cwd: string): Promise<void> {
  for (const specifier of specifiers) {
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(preloadUrl(specifier, cwd))) as Record<string, unknown>;
    } catch (error) {
      throw new PreloadError(`cannot import --preload module ${JSON.stringify(specifier)}: ${(error as Error).message}`, { cause: error });
    }
    let plugin = namespace.plugin;
    const setup = namespace.setup;
    if (plugin === undefined && typeof setup !== 'function') {
      throw new PreloadError(`--preload module ${JSON.stringify(specifier)} exports neither \`plugin\` nor \`setup(scheduler)\``);
    }
    try {
      if (typeof plugin === 'function') plugin = new (plugin as new () => unknown)();
      if (plugin !== undefined) await scheduler.addPlugin(plugin as SchedulerPlugin);
      if (typeof setup === 'function') await (setup as (s: S) => unknown)(scheduler);
    } catch (error) {
      throw new PreloadError(`--preload module ${JSON.stringify(specifier)} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}
