/**
 * How soon V8 optimizes hot functions in the processes distributed-ts starts
 * itself to serve a cluster: dscheduler, dworker and a nanny's worker process
 * (pool threads share their process's V8 flags). V8 compiles a function with
 * its optimizing compiler only after the function has done some amount of
 * interpreted work (the "interrupt budget": 66 KiB of bytecode by default,
 * three times over). One task's round trip runs a few dozen small functions
 * once each, so with the default a fresh cluster takes 2,000-3,000 round trips
 * (about a second) before its messages are handled by optimized code: the
 * median round trip falls from ~500 µs to ~150 µs over that time
 * (benchmarks/README.md, "Processes round trip"). With a sixteenth of the
 * budget the fast state comes after a few hundred.
 *
 * Such a process calls `armTierUp()` at its start; the worker reports each
 * task-finished it sends and the scheduler each one it handles
 * (`taskFinished`), and the budget is lowered right after the first: by then
 * the process has started (modules loaded, pool threads up, registered) and
 * the first result is on its way. Not from the start: lowered while modules
 * load and threads start, it has V8 optimize start-up code that runs a few
 * times only (measured: +70-100 ms from start to the first result); not at the
 * first task message either, which delayed the first result the same way.
 * Not later: a function already running keeps the budget it was given until
 * it has used it up, so lowered after 200 tasks (as before), the first
 * thousand tasks of a fresh cluster still ran mostly interpreted. Not in the user's own process (a client, a LocalCluster's
 * scheduler): its flags are the program's business, and there the lower budget
 * cost in-process scatter + gather ~15% (optimized with less type feedback,
 * some code deoptimizes). A program started with its own `--interrupt-budget`
 * keeps it.
 */
import { setFlagsFromString } from 'node:v8';

/** Bytes of interpreted bytecode per tier-up check: a sixteenth of V8's default (67,584). */
export const INTERRUPT_BUDGET = 4 * 1024;

/** The flag a process gets from `tierUpSooner`. */
export const TIERING_FLAG = `--interrupt-budget=${INTERRUPT_BUDGET}`;

/** Whether the program was started with its own `--interrupt-budget`. */
export function hasOwnInterruptBudget(execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.some((flag) => flag === '--interrupt-budget' || flag.startsWith('--interrupt-budget='));
}

/** Finished tasks (task-finished sent by a worker, handled by a scheduler) before the budget is lowered. */
export const TASKS_BEFORE_TIER_UP = 1;

let armed = false;
/** The count reached its mark (whether or not the budget was ours to lower): stop counting. */
let decided = false;
let applied = false;
let tasksFinished = 0;

/** This process is one distributed-ts started to serve a cluster: lower its budget once tasks flow. */
export function armTierUp(): void {
  armed = true;
}

/** One task finished; in an armed process the TASKS_BEFORE_TIER_UP-th lowers the budget (`tierUpSooner`). */
export function taskFinished(): void {
  if (!armed || decided || ++tasksFinished < TASKS_BEFORE_TIER_UP) return;
  decided = true;
  tierUpSooner();
}

/**
 * Lowers this process's interrupt budget to INTERRUPT_BUDGET, once, unless the
 * program set its own. Returns whether the flag is now ours. Functions already
 * running pick it up at their next tier-up check.
 */
export function tierUpSooner(execArgv: readonly string[] = process.execArgv): boolean {
  if (applied) return true;
  if (hasOwnInterruptBudget(execArgv)) return false;
  setFlagsFromString(TIERING_FLAG);
  applied = true;
  return true;
}
