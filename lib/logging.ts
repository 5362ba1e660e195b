/**
 * One pino root logger per process (and per worker thread), writing to
 * stderr; every actor takes a child of it (`childLogger('scheduler', { address })`).
 *
 * - Level: DISTRIBUTED_LOG_LEVEL (fatal, error, warn, info, debug, trace or
 *   silent; default 'warn', so tests and examples stay quiet). A level pino
 *   does not know is reported once, in one line, and 'warn' is used instead:
 *   a typo in an environment variable must not crash the program.
 * - Format: human-readable lines (pino-pretty) when stderr is a terminal,
 *   NDJSON otherwise; DISTRIBUTED_LOG_FORMAT=json|pretty overrides. The check
 *   looks at file descriptor 2 itself, so worker threads and worker processes
 *   (which share or inherit it) pick the same format as their main thread.
 */
import { isatty } from 'node:tty';
import { isMainThread } from 'node:worker_threads';
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export const DEFAULT_LOG_LEVEL = 'warn';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

let root: Logger | undefined;

/** Why `level` is not a usable DISTRIBUTED_LOG_LEVEL, or undefined when it is. */
export function logLevelProblem(level: string | undefined): string | undefined {
  if (level === undefined || (LEVELS as readonly string[]).includes(level)) return undefined;
  return `DISTRIBUTED_LOG_LEVEL=${JSON.stringify(level)} is not a log level (use one of ${LEVELS.join(', ')})`;
}

/** The level to use: DISTRIBUTED_LOG_LEVEL when valid, else the default. */
export function logLevel(env: NodeJS.ProcessEnv = process.env): string {
  const level = env.DISTRIBUTED_LOG_LEVEL?.trim().toLowerCase();
  if (level === undefined || level === '') return DEFAULT_LOG_LEVEL;
  return logLevelProblem(level) === undefined ? level : DEFAULT_LOG_LEVEL;
}

/** 'pretty' on a terminal, 'json' otherwise, unless DISTRIBUTED_LOG_FORMAT says. */
export function logFormat(env: NodeJS.ProcessEnv = process.env, terminal = isatty(2)): 'json' | 'pretty' {
  const format = env.DISTRIBUTED_LOG_FORMAT?.trim().toLowerCase();
  if (format === 'json' || format === 'pretty') return format;
  return terminal ? 'pretty' : 'json';
}

function destination(format: 'json' | 'pretty'): DestinationStream {
  if (format === 'json') return pino.destination({ dest: 2, sync: true });
  return pretty({
    destination: 2,
    sync: true,
    colorize: isatty(2),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component,actor',
    // "scheduler: worker joined": the actor's name when there is one, else the component's.
    messageFormat: (record: Record<string, unknown>, messageKey: string) =>
      `${String(record.actor ?? record.component ?? '')}: ${String(record[messageKey] ?? '')}`,
  });
}

export function rootLogger(): Logger {
  if (root !== undefined) return root;
  const given = process.env.DISTRIBUTED_LOG_LEVEL?.trim().toLowerCase();
  const problem = given === '' ? undefined : logLevelProblem(given);
  root = pino({ level: logLevel(), base: { pid: process.pid } }, destination(logFormat()));
  // Said once, by the main thread (threads share its stderr).
  if (problem !== undefined && isMainThread) root.warn(`${problem}; using ${DEFAULT_LOG_LEVEL}`);
  return root;
}

export function childLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
