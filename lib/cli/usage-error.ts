import { DistributedError } from '../errors.js';

/** A command line the program cannot run with. The CLIs print it with the usage line and exit 2. */
export class UsageError extends DistributedError {
  override name = 'UsageError';
}

/** Exit status for a bad command line (as getopt-style tools do). */
export const USAGE_EXIT_CODE = 2;
