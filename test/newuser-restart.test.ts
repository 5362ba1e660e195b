// client.restart() on the default in-process cluster: workers are replaced, the cluster keeps working.
import t from 'tap';
import { Client } from '../dist/index.js';

t.test('restart on Client.connect()\'s own cluster replaces its workers', async (t) => {
  const client = await Client.connect();
  t.teardown(() => client.close());
  const before = Object.keys(await client.nthreads());
  const kept = client.submit((x: number) => x + 1, 1);
  t.equal(await kept.result(), 2);
  // Before the fix the workers were closed and never came back: TimeoutError after the timeout.
  await client.restart({ timeout: '10s' });
  t.equal(kept.status, 'cancelled', 'futures from before are cancelled');
  const after = Object.keys(await client.nthreads());
  t.equal(after.length, before.length, 'as many workers as before');
  t.notSame(after, before, 'fresh workers');
  t.same(client.cluster!.workerAddresses, after, 'the cluster knows its new workers');
  t.equal(await client.submit((x: number) => x * 2, 21).result(), 42, 'and they run tasks');
  await client.restart({ timeout: '10s' });
  t.equal(await client.submit((x: number) => x * 3, 14).result(), 42, 'more than once');
});
