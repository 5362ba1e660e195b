/**
 * One pino root logger per process, writing NDJSON to stderr; every actor
 * takes a child of it (`childLogger('scheduler', { address })`).
 * Level: DISTRIBUTED_LOG_LEVEL (default 'warn', so tests and examples stay quiet).
 */
import { pino, type Logger } from 'pino';

let root: Logger | undefined;

export function rootLogger(): Logger {
  root ??= pino(
    { level: process.env.DISTRIBUTED_LOG_LEVEL ?? 'warn', base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: true }),
  );
  return root;
}

export function childLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
