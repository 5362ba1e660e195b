/**
 * The frame every CLI runs in: `--version` prints the package version and
 * exits 0; a UsageError prints the message and the usage line and exits 2; any
 * other failure prints one clear line and exits 1.
 */
import { readFileSync } from 'node:fs';
import { logLevelProblem } from '../logging.js';
import { USAGE_EXIT_CODE, UsageError } from './usage-error.js';

/** This package's version, from its package.json (dist/lib/cli -> the package root). */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return String((JSON.parse(text) as { version?: unknown }).version);
}

export async function runCommand(program: string, usage: string, main: () => Promise<void>): Promise<void> {
  if (process.argv.slice(2).some((arg) => arg === '--version' || arg === '-V')) {
    process.stdout.write(`${program}, version ${packageVersion()}\n`);
    return;
  }
  try {
    // The environment is part of the command line: a bad level is a usage error, said before anything starts.
    const problem = logLevelProblem(process.env.DISTRIBUTED_LOG_LEVEL?.trim().toLowerCase() || undefined);
    if (problem !== undefined) throw new UsageError(problem);
    await main();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${program}: error: ${error.message}\n${usage}\nTry '${program} --help' for more information.\n`);
      process.exit(USAGE_EXIT_CODE);
    }
    process.stderr.write(`${program}: ${describeFailure(error)}\n`);
    process.exit(1);
  }
}

function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error && !error.message.includes(error.cause.message) ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}
