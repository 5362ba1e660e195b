/**
 * The frame every CLI runs in: a UsageError prints the message and the usage
 * line and exits 2; any other failure prints one clear line and exits 1.
 */
import { USAGE_EXIT_CODE, UsageError } from './usage-error.js';

export async function runCommand(program: string, usage: string, main: () => Promise<void>): Promise<void> {
  try {
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
