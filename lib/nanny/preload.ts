/**
 * `--preload MODULE`: modules imported in every worker process before it
 * starts, on its main thread and in each thread that runs tasks. A module may
 * export `setup(worker)` (awaited once the worker runs), `teardown(worker)`
 * (awaited when it closes), both on the main thread, and `setupThread()`
 * (awaited in each task thread before it takes work). MODULE is a path (relative
 * to the working directory), a file:// URL, or a package name resolved from the
 * working directory.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DistributedError } from '../errors.js';

export class PreloadError extends DistributedError {
  override name = 'PreloadError';
}

type Hook = (worker: unknown) => unknown;

export interface PreloadedModule {
  specifier: string;
  /** What was imported: task threads import it too (lib/worker/thread-preload.ts). */
  url: string;
  setup?: Hook;
  teardown?: Hook;
}

/** The URL (or bare name) `import()` should load for a --preload specifier. */
export function preloadUrl(specifier: string, cwd: string): string {
  if (/^(file|data|node):/.test(specifier)) return specifier;
  const looksLikePath = specifier.startsWith('.') || isAbsolute(specifier) || /\.(m?js|cjs)$/.test(specifier);
  if (looksLikePath) return pathToFileURL(resolve(cwd, specifier)).href;
  try {
    return pathToFileURL(createRequire(join(cwd, 'preload-resolver.js')).resolve(specifier)).href;
  } catch {
    return specifier; // let import() resolve it (or explain why it cannot)
  }
}

function hook(namespace: Record<string, unknown>, name: string): Hook | undefined {
  const value = namespace[name];
  return typeof value === 'function' ? (value as Hook) : undefined;
}

export async function importPreloads(specifiers: readonly string[], cwd: string): Promise<PreloadedModule[]> {
  const modules: PreloadedModule[] = [];
  for (const specifier of specifiers) {
    let namespace: Record<string, unknown>;
    const url = preloadUrl(specifier, cwd);
    try {
      namespace = (await import(url)) as Record<string, unknown>;
    } catch (error) {
      throw new PreloadError(`cannot import --preload module ${JSON.stringify(specifier)}: ${(error as Error).message}`, { cause: error });
    }
    const setup = hook(namespace, 'setup');
    const teardown = hook(namespace, 'teardown');
    modules.push({ specifier, url, ...(setup === undefined ? {} : { setup }), ...(teardown === undefined ? {} : { teardown }) });
  }
  return modules;
}

export async function runSetups(modules: readonly PreloadedModule[], worker: unknown): Promise<void> {
  for (const module of modules) {
    try {
      await module.setup?.(worker);
    } catch (error) {
      throw new PreloadError(`setup() of --preload module ${JSON.stringify(module.specifier)} failed: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Every teardown runs (in reverse order) even if one fails; the failures are returned. */
export async function runTeardowns(modules: readonly PreloadedModule[], worker: unknown): Promise<Error[]> {
  const failures: Error[] = [];
  for (const module of [...modules].reverse()) {
    try {
      await module.teardown?.(worker);
    } catch (error) {
      failures.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return failures;
}
