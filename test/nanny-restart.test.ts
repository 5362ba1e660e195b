/** A Nanny supervising a real worker process: restart on death, restart/kill RPCs, clean close. */
import t from 'tap';
import { Scheduler } from '../dist/actors/scheduler.js';
import { Nanny, type WorkerStartEvent } from '../dist/actors/nanny.js';
import { Client } from '../dist/index.js';
import { connectRpc } from '../dist/lib/comm/rpc.js';
import { isAlive, unusedPort, waitUntil } from './fixtures/cli-process.js';

async function nthreadsSettles(client: Client, expected: Record<string, number>, timeoutMs = 8000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let seen = await client.nthreads();
  while (JSON.stringify(seen) !== JSON.stringify(expected) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    seen = await client.nthreads();
  }
  return seen;
}

t.test('nanny restarts a SIGKILLed worker, restarts and kills on request, closes cleanly', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const starts: WorkerStartEvent[] = [];
  const nanny = await Nanny.start(scheduler.address, { nthreads: 1, name: 'nanny-test', onWorkerStart: (e) => starts.push(e) });
  t.teardown(() => nanny.close());
  t.match(nanny.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.equal(nanny.status, 'running');
  t.equal(starts.length, 1, 'the first worker was announced');
  const first = starts[0]!;
  t.equal(nanny.workerAddress, first.address);
  t.not(first.pid, process.pid, 'the worker runs in its own process');

  const client = await Client.connect(scheduler.address);
  t.teardown(() => client.close());
  t.same(await client.nthreads(), { [first.address]: 1 });
  t.same(await client.run(() => process.pid), { [first.address]: first.pid });

  // 1. an unexpected death: the nanny starts a new worker that registers again
  process.kill(first.pid, 'SIGKILL');
  await waitUntil(() => starts.length === 2, 10_000, 'the worker was restarted');
  const second = starts[1]!;
  t.not(second.pid, first.pid, 'a new process');
  t.notOk(isAlive(first.pid), 'the old one is gone');
  t.equal(second.restarts, 1);
  t.same(await nthreadsSettles(client, { [second.address]: 1 }), { [second.address]: 1 }, 'the new worker is registered, the old one removed');
  const inc = client.submit((x: number) => x + 1, 1) as { result(): Promise<unknown> };
  t.equal(await inc.result(), 2, 'the restarted worker computes');

  // 2. the restart RPC: resolves once the new worker registered
  const rpc = await connectRpc(nanny.address);
  t.teardown(() => rpc.close());
  const reply = await rpc.call<{ status: string; address: string }>({ op: 'restart', reason: 'test' }, { timeout: 15_000 });
  t.equal(reply.status, 'OK');
  t.equal(starts.length, 3);
  t.equal(reply.address, starts[2]!.address, 'the reply names the new worker');
  t.notOk(isAlive(second.pid), 'the previous worker process was killed');
  t.same(await nthreadsSettles(client, { [reply.address]: 1 }), { [reply.address]: 1 });
  const identity = await rpc.call<{ type: string; pid: number; restarts: number }>({ op: 'identity' });
  t.same([identity.type, identity.pid, identity.restarts], ['Nanny', starts[2]!.pid, 2]);
  const [a, b] = await Promise.all([nanny.restart('twice'), nanny.restart('twice')]);
  t.equal(a, b, 'concurrent restarts share one');
  t.equal(starts.length, 4);

  // 3. kill: the worker goes and is not replaced until restart
  const killedPid = nanny.workerPid!;
  await rpc.call({ op: 'kill' });
  t.notOk(isAlive(killedPid), 'killed');
  t.equal(nanny.workerAddress, undefined);
  await new Promise((resolve) => setTimeout(resolve, 700));
  t.equal(starts.length, 4, 'no automatic restart after kill');
  await nanny.restart('after kill');
  t.equal(starts.length, 5, 'restart brings it back');

  // 4. close: the worker unregisters and its process exits
  const lastPid = nanny.workerPid!;
  await nanny.close();
  t.equal(nanny.status, 'closed');
  t.equal(await nanny.finished, 'closed');
  await waitUntil(() => !isAlive(lastPid), 3000, 'the worker process exited');
  t.same(await nthreadsSettles(client, {}), {}, 'no workers left on the scheduler');
  await t.rejects(nanny.restart(), { name: 'NannyClosedError' });
});

t.test('Nanny.start rejects within deathTimeout when the scheduler is unreachable', async (t) => {
  const port = await unusedPort();
  const started = Date.now();
  await t.rejects(Nanny.start(`tcp://127.0.0.1:${port}`, { deathTimeout: 800 }), {
    name: 'TimeoutError',
    message: new RegExp(`could not reach the scheduler at tcp://127\\.0\\.0\\.1:${port} within 800 ms`),
  });
  t.ok(Date.now() - started < 3000, 'promptly');
});

t.test('a nanny closes itself when the scheduler is gone for longer than deathTimeout', async (t) => {
  const scheduler = await Scheduler.start({ port: 0 });
  t.teardown(() => scheduler.close());
  const nanny = await Nanny.start(scheduler.address, { nthreads: 1, deathTimeout: 1000 });
  t.teardown(() => nanny.close());
  const pid = nanny.workerPid!;
  await scheduler.close();
  const reason = await nanny.finished;
  t.match(reason, /unreachable|worker/, `closed: ${reason}`);
  await waitUntil(() => !isAlive(pid), 5000, 'the worker process exited');
  t.equal(nanny.status, 'closed');
});
