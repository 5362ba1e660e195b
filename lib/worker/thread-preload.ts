/**
 * `--preload MODULE` in the threads that run tasks. A preload module is
 * imported once on the worker's main thread (where its `setup(worker)` and
 * `teardown(worker)` run) and again in every task thread before it takes
 * work, so whatever its top level prepares (globals, registered codecs,
 * warmed caches) is there for tasks, as a dask preload is in the worker
 * process where tasks run. A module may also export `setupThread()`, awaited
 * once in each task thread.
 *
 * The workerData field carrying the module URLs; read by the thread entry.
 */
export const THREAD_PRELOAD = 'distributed-ts.thread-preload';

/** The preload URLs in a thread's workerData, if any. */
export function threadPreloadsOf(workerData: unknown): string[] {
  if (typeof workerData !== 'object' || workerData === null) return [];
  const urls = (workerData as Record<string, unknown>)[THREAD_PRELOAD];
  return Array.isArray(urls) ? urls.filter((url): url is string => typeof url === 'string') : [];
}

/**
 * Imports each module and awaits its `setupThread()`. A failure is returned,
 * not thrown: a thread that cannot prepare still starts (tasks then fail on
 * what is missing), rather than dying and being respawned in a loop.
 */
export async function prepareThread(urls: readonly string[]): Promise<Error[]> {
  const failures: Error[] = [];
  for (const url of urls) {
    try {
      const namespace = (await import(url)) as Record<string, unknown>;
      if (typeof namespace.setupThread === 'function') await (namespace.setupThread as () => unknown)();
    } catch (error) {
      failures.push(new Error(`--preload ${url} failed in a task thread: ${(error as Error)?.message ?? String(error)}`, { cause: error }));
    }
  }
  return failures;
}
