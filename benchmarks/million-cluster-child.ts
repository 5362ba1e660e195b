/**
 * The cluster side of benchmarks/million.ts in a process of its own: a
 * scheduler on TCP 127.0.0.1 with one in-process worker (2 threads). Prints
 * the scheduler's address on stdout and closes when stdin ends, so the
 * benchmark's heap holds the client alone.
 */
import { Scheduler } from '../actors/scheduler.js';
import { Worker } from '../actors/worker.js';

const scheduler = await Scheduler.start({ host: '127.0.0.1', port: 0, inproc: true });
const worker = await Worker.start(scheduler.inprocAddress ?? scheduler.address, { nthreads: 2, name: 'million-0' });
process.stdout.write(`${scheduler.address}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void (async () => {
    await worker.close();
    await scheduler.close();
    process.exit(0);
  })();
});
