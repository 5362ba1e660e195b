import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { hasOwnInterruptBudget, INTERRUPT_BUDGET, TASKS_BEFORE_TIER_UP, TIERING_FLAG } from '../dist/lib/jit-tiering.js';

const run = promisify(execFile);
const dist = fileURLToPath(new URL('../dist/', import.meta.url));

/**
 * A child process that (depending on `how`) lowers its budget the way a
 * scheduler's or worker's process does, then counts the calls a small function
 * takes until V8 has optimized it. Concurrent recompilation is off so the count
 * does not depend on a background thread's timing.
 */
const CHILD = `
const how = process.argv.at(-1);
const OPTIMIZED = 1 << 4;
/** Calls until V8 has optimized a fresh function (source-built, as a task's function is). */
const COUNT_SOURCE = 'function hot(x) { let sum = 0; for (let i = 0; i < 4; i++) sum += (x ^ i) & 7; return sum; }' +
  ' let calls = 0; while ((%GetOptimizationStatus(hot) & ' + OPTIMIZED + ') === 0 && calls < 5e6) hot(calls++); return calls;';
const countCalls = new Function(COUNT_SOURCE);
const [what, arg] = how.split(':');
if (what === 'call') {
  const { tierUpSooner } = await import(${JSON.stringify(`${dist}lib/jit-tiering.js`)});
  tierUpSooner();
} else if (what === 'tasks' || what === 'armed' || what === 'processes') {
  // A cluster runs that many tasks one by one; 'armed' as a process of ours would be, 'processes' in a nanny's worker process.
  const { LocalCluster } = await import(${JSON.stringify(`${dist}actors/local-cluster.js`)});
  const { Client } = await import(${JSON.stringify(`${dist}lib/client/client.js`)});
  if (what === 'armed') (await import(${JSON.stringify(`${dist}lib/jit-tiering.js`)})).armTierUp();
  const cluster = await LocalCluster.start({ processes: what === 'processes', nWorkers: 1, threadsPerWorker: 1 });
  const client = await Client.connect(cluster);
  for (let i = 0; i < Number(arg); i++) {
    if ((await client.submit((x) => x + 1, i, { pure: false }).result()) !== i + 1) throw new Error('wrong result');
  }
  if (what === 'processes') {
    // Counted in the worker process, on its pool thread.
    console.log(await client.submit(new Function(COUNT_SOURCE), { pure: false }).result());
    await client.close();
    await cluster.close();
    process.exit(0);
  }
  await client.close();
  await cluster.close();
}
console.log(countCalls());
`;

// A file, not -e: pool threads inherit the process's flags, and --input-type would not do for their entry.
const childScript = join(t.testdir(), 'child.mjs');
writeFileSync(childScript, CHILD);

async function callsUntilOptimized(how: string, flags: string[] = []): Promise<number> {
  const { stdout } = await run(process.execPath, [...flags, '--allow-natives-syntax', '--no-concurrent-recompilation', childScript, how], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const calls = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isInteger(calls)) throw new Error(`child printed ${JSON.stringify(stdout)}`);
  return calls;
}

t.test('the flag and who counts as having set their own', async (t) => {
  t.equal(TIERING_FLAG, `--interrupt-budget=${INTERRUPT_BUDGET}`);
  t.ok(INTERRUPT_BUDGET < 67584, "below V8's default budget");
  t.equal(hasOwnInterruptBudget(['--interrupt-budget=100000']), true);
  t.equal(hasOwnInterruptBudget(['--interrupt-budget', '100000']), true);
  t.equal(hasOwnInterruptBudget(['--interrupt-budget-for-feedback-allocation=100']), false, 'another flag with the same start');
  t.equal(hasOwnInterruptBudget([]), false);
});

t.test('a process that lowers its budget optimizes hot functions after fewer calls; its own flag wins', async (t) => {
  const untouched = await callsUntilOptimized('none');
  const lowered = await callsUntilOptimized('call');
  const own = await callsUntilOptimized('call', ['--interrupt-budget=67584']);
  t.ok(lowered * 2 < untouched, `lowered: optimized after ${lowered} calls, untouched after ${untouched}`);
  t.ok(own > lowered * 2, `a program's own --interrupt-budget is kept (${own} calls)`);
});

t.test("a process of ours lowers its budget once tasks finish; the user's process keeps V8's", async (t) => {
  const untouched = await callsUntilOptimized('none');
  // In one process each task is two finished-task reports: sent by the worker, handled by the scheduler.
  const tasks = Math.ceil(TASKS_BEFORE_TIER_UP / 2);
  const started = await callsUntilOptimized('armed:0');
  const enough = await callsUntilOptimized(`armed:${tasks}`);
  const users = await callsUntilOptimized(`tasks:${tasks + 10}`);
  t.equal(started, untouched, `a started cluster with no task yet: the budget is V8's own (${started} calls)`);
  t.ok(enough * 2 < untouched, `after ${tasks} task(s): optimized after ${enough} calls, untouched after ${untouched}`);
  t.equal(users, untouched, "a LocalCluster in the user's process does not touch its flags");
});

t.test("a nanny's worker process lowers its budget once tasks flow", async (t) => {
  const untouched = await callsUntilOptimized('none');
  const inWorker = await callsUntilOptimized(`processes:${TASKS_BEFORE_TIER_UP + 10}`);
  t.ok(inWorker * 2 < untouched, `in the worker process after ${TASKS_BEFORE_TIER_UP + 10} tasks: optimized after ${inWorker} calls, untouched after ${untouched}`);
});
