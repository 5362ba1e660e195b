import t from 'tap';
import { addressScheme, connect, listen, registerTransport, transportFor } from '../dist/lib/comm/registry.js';
import { inprocPair } from '../dist/lib/comm/inproc.js';
import { ConnectError } from '../dist/lib/errors.js';
import type { Comm, Transport } from '../dist/lib/comm/comm.js';

t.test('bad and unknown schemes are clear TypeErrors', async (t) => {
  t.equal(addressScheme('tcp://127.0.0.1:8786'), 'tcp');
  t.equal(addressScheme('INPROC://x'), 'inproc');
  t.throws(() => transportFor('127.0.0.1:8786'), { name: 'TypeError', message: /expected scheme:\/\/location/ });
  t.throws(() => transportFor('udp://1.2.3.4:5'), { name: 'TypeError', message: /unknown address scheme "udp:\/\/"/ });
  await t.rejects(connect('nonsense'), { name: 'TypeError' });
  await t.rejects(connect('ws://host:1'), { name: 'TypeError', message: /known: .*tcp:\/\/.*inproc:\/\// });
  await t.rejects(listen('ws://host:1', () => undefined), { name: 'TypeError' });
  await t.rejects(connect(42 as unknown as string), { name: 'TypeError' });
  await t.rejects(connect('inproc://x', { timeout: 'soon' }), { name: 'TypeError', message: /invalid duration/ });
});

t.test('a transport that never answers fails with ConnectError after the timeout', async (t) => {
  let produced: Comm | undefined;
  const stuck: Transport = {
    scheme: 'stuck',
    connect: () => new Promise<Comm>((resolve) => setTimeout(() => {
      [produced] = inprocPair();
      resolve(produced);
    }, 1500)),
    listen: () => Promise.reject(new Error('no')),
  };
  registerTransport(stuck);
  const started = performance.now();
  const error = await connect('stuck://somewhere', { timeout: '100ms' }).catch((e: unknown) => e);
  const elapsed = performance.now() - started;
  t.type(error, ConnectError);
  t.match((error as Error).message, /stuck:\/\/somewhere/);
  t.ok(elapsed >= 95 && elapsed < 1200, `gave up after ${elapsed.toFixed(0)} ms`);
  await new Promise((r) => setTimeout(r, 1550));
  t.equal(produced?.closed, true, 'a comm that arrives after the deadline is closed, not leaked');
});

t.test('transport failures become ConnectError naming the address', async (t) => {
  registerTransport({
    scheme: 'broken',
    connect: () => Promise.reject(new Error('wires cut')),
    listen: () => Promise.reject(new Error('no')),
  });
  const error = await connect('broken://over-there').catch((e: unknown) => e);
  t.type(error, ConnectError);
  t.match((error as Error).message, /broken:\/\/over-there.*wires cut/);
  t.equal(((error as Error).cause as Error).message, 'wires cut');
});
