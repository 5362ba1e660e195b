/**
 * Clean shutdown of a CLI on SIGINT/SIGTERM: the first signal runs `close`
 * (bounded by `timeoutMs`) and exits 0; a second signal, a failing close or
 * the timeout run `force` and exit 1, so the command never hangs.
 */
export interface ShutdownOptions {
  program: string;
  close: () => Promise<void>;
  /** Last resort before exiting without a clean close (e.g. SIGKILL children). */
  force?: () => void;
  timeoutMs?: number;
}

export function closeOnSignals(options: ShutdownOptions): void {
  let closing = false;
  const forceExit = (why: string): never => {
    process.stderr.write(`${options.program}: ${why}; exiting now\n`);
    try {
      options.force?.();
    } finally {
      process.exit(1);
    }
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) forceExit(`second ${signal}`);
    closing = true;
    const timer = setTimeout(() => forceExit(`clean shutdown took longer than ${options.timeoutMs ?? 10_000} ms`), options.timeoutMs ?? 10_000);
    options.close().then(
      () => {
        clearTimeout(timer);
        process.exit(0);
      },
      (error: unknown) => forceExit(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
