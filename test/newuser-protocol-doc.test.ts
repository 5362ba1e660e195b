// docs/protocol.md lists every op the scheduler, workers, nannies and clients handle, in the right section.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { Client, LocalCluster, Worker } from '../dist/index.js';

const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

/** The text of the `### ` sections whose titles start with one of `titles`. */
function sections(...titles: string[]): string {
  return doc
    .split(/^### /m)
    .filter((part) => titles.some((title) => part.startsWith(title)))
    .join('\n');
}

function handledOps(actor: unknown): string[] {
  return Object.keys((actor as { handlers: Record<string, unknown> }).handlers);
}

function undocumented(ops: string[], text: string): string[] {
  return ops.filter((op) => !text.includes(`\`${op}\``));
}

t.test('every op handled is documented where it belongs', async (t) => {
  const cluster = await LocalCluster.start({ processes: true, nWorkers: 1, threadsPerWorker: 1 });
  const worker = await Worker.start(cluster.schedulerAddress, { nthreads: 1 });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await worker.close();
    await cluster.close();
  });
  const scheduler = sections('Client → scheduler', 'Worker ↔ scheduler', 'Coordination primitives');
  t.same(undocumented(handledOps(cluster.scheduler), scheduler), [], 'scheduler ops');
  t.same(undocumented(handledOps(worker), sections('Worker ↔ scheduler', 'Worker requests')), [], 'worker ops');
  t.same(undocumented(handledOps(cluster.nannies[0]), sections('Nanny requests')), [], 'nanny ops');
  const session = (await import('../dist/lib/client/client.js')).sessionOf(client) as unknown as { mailbox: unknown };
  t.same(undocumented(handledOps(session.mailbox), sections('Scheduler → client')), [], 'client ops');
});
