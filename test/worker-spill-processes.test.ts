/**
 * Spill to disk with worker processes (issue 15): a worker process under a
 * nanny with a 256 MB memory limit computes over 1 GB of 10 MB values. Its
 * limit counts memory beyond its resting RSS (lib/worker/process-memory.ts),
 * its threads drop dead buffers soon, and the store keeps managed plus
 * unmanaged memory at the target: the nanny never restarts it, the reduction
 * is right, and the spilled bytes show in schedulerInfo(), the dashboard's
 * JSON and its /metrics.
 */
import t from 'tap';
import { Client } from '../dist/lib/client/client.js';
import { LocalCluster } from '../dist/actors/local-cluster.js';
import { reduceOverValues } from './fixtures/spill-reduction.js';

const MB = 1_000_000;
const LIMIT = 256 * MB;

t.test('a 256 MB worker process holds 1 GB of 10 MB values and reduces over all of them', async (t) => {
  const cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 2, processes: true, memoryLimit: LIMIT });
  const client = await Client.connect(cluster);
  t.teardown(async () => {
    await client.close();
    await cluster.close();
  });
  const nanny = cluster.nannies[0]!;
  const pid = nanny.workerPid;
  const address = nanny.workerAddress!;

  // Watch the worker's figures while it works: the largest spilled total and every status seen.
  const statuses = new Set<string>();
  let maxSpilled = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const info = await client.schedulerInfo();
      const w = info.workers[address] as { status?: string; memory?: { spilledBytes?: number } } | undefined;
      if (w?.status !== undefined) statuses.add(w.status);
      maxSpilled = Math.max(maxSpilled, w?.memory?.spilledBytes ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const { blocks, result, expected } = await reduceOverValues(client);
  t.equal(result, expected, 'the reduction over all 100 values is right');
  t.equal(nanny.restarts, 0, 'the nanny never restarted the worker');
  t.equal(nanny.workerPid, pid, 'the same worker process did all of it');

  // Every block is still held (in RAM or on disk): a spilled one comes back for the client.
  const seventh = await blocks[7]!.result();
  t.equal(seventh.byteLength, 10_000_000);
  t.equal(seventh[9_999_999], 7);

  // One more heartbeat, so the figures are the latest.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  watching = false;
  await watcher;
  const info = await client.schedulerInfo();
  const memory = (info.workers[address] as { memory?: { spilledBytes: number; managedBytes: number; processBytes: number } }).memory;
  t.ok(memory !== undefined && memory.spilledBytes >= 600 * MB, `schedulerInfo() reports ${((memory?.spilledBytes ?? 0) / MB).toFixed(0)} MB spilled`);
  t.ok(maxSpilled > 0, 'spilled bytes showed in schedulerInfo() while the work ran');
  t.ok(memory!.managedBytes <= 0.6 * LIMIT + 10.1 * MB, `managed memory stays near the 60% target (${(memory!.managedBytes / MB).toFixed(0)} MB)`);
  t.notOk(statuses.has('closing') || statuses.has('closed'), `the worker was never closed (statuses seen: ${[...statuses].join(', ')})`);

  // The dashboard shows the spilled bytes: its JSON, and its Prometheus metrics.
  const base = cluster.dashboardAddress!;
  const status = (await (await fetch(`${base}/json/status.json`)).json()) as { workers: { address: string; spilledBytes: number }[] };
  const row = status.workers.find((w) => w.address === address);
  t.equal(row?.spilledBytes, memory!.spilledBytes, 'the dashboard JSON carries the spilled bytes');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, new RegExp(`dts_worker_spilled_bytes\\{[^}]*\\} ${memory!.spilledBytes}`), 'and /metrics exports them');
});
