import t from 'tap';
import { Client } from '../dist/lib/client/client.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { SpillBuffer } from '../dist/lib/worker/spill-buffer.js';
import { RecyclingStore } from '../dist/lib/worker/recycling-store.js';
import { reduceOverValues } from './fixtures/spill-reduction.js';

const MB = 1_000_000;
const LIMIT = 256 * MB;

// 1 GB of 10 MB values on a worker limited to 256 MB: it spills and keeps computing.
t.test('a 256 MB worker holds 1 GB of 10 MB values and reduces over all of them', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, memoryLimit: LIMIT });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const worker = cluster.workers[0]!;
  // Under the recycling wrapper (recycling-store.ts) that every worker's values go through.
  const data = worker.state.data;
  const store = data instanceof RecyclingStore ? data.inner : data;
  t.ok(store instanceof SpillBuffer, 'a worker with a memory limit keeps its values in a SpillBuffer');

  const { blocks, result, expected } = await reduceOverValues(client);
  t.equal(result, expected, 'the reduction over all 100 values is right');

  const counters = (store as SpillBuffer).counters();
  t.ok(blocks.every((future) => store.has(future.key)), 'every value is still held, in RAM or on disk');
  t.ok(counters.spilledBytes >= 700 * MB, `most of it went to disk (${(counters.spilledBytes / MB).toFixed(0)} MB)`);
  t.ok(counters.memoryBytes <= 0.6 * LIMIT + 10.1 * MB, `managed memory stays near the 60% target (${(counters.memoryBytes / MB).toFixed(0)} MB)`);
  t.equal(worker.status, 'running', 'never paused');

  // A spilled value comes back transparently for the client.
  const first = await blocks[0]!.result();
  t.equal(first.byteLength, 10_000_000);
  t.equal(first[123], 0);
  const seventh = await blocks[7]!.result();
  t.equal(seventh[9_999_999], 7);

  // The heartbeat carries the figures to the scheduler: schedulerInfo() shows the spilled bytes.
  let spilled = 0;
  for (let attempt = 0; attempt < 100 && spilled === 0; attempt++) {
    const info = await client.schedulerInfo();
    spilled = (info.workers[worker.address]?.memory as { spilledBytes?: number } | undefined)?.spilledBytes ?? 0;
    if (spilled === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(spilled > 0, `schedulerInfo() reports ${(spilled / MB).toFixed(0)} MB spilled on the worker`);
});

