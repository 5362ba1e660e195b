// Client.connect as a new user meets it: bare host:port, a scheduler that
// comes up a moment after the client starts dialing, a peer that never answers.
import { createServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Client, ConnectError, Scheduler, TimeoutError, Worker } from '../dist/index.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('a bare host:port is a tcp:// address, as dworker takes it', async (t) => {
  const scheduler = await Scheduler.start({ port: 0, host: '127.0.0.1' });
  const worker = await Worker.start(scheduler.address, { nthreads: 1 });
  t.teardown(async () => {
    await worker.close();
    await scheduler.close();
  });
  const bare = scheduler.address.replace(/^tcp:\/\//, '');
  const client = await Client.connect(bare);
  t.teardown(() => client.close());
  t.equal(await client.submit((x: number) => x + 1, 41).result(), 42);
  await t.rejects(Client.connect('no port here'), TypeError);
});

t.test('connect retries a refused connection until the scheduler listens', async (t) => {
  const port = await freePort();
  // Dial first: nothing listens yet, so the first attempts are refused.
  const connecting = Client.connect(`tcp://127.0.0.1:${port}`, { timeout: '20s' });
  // A plain dial to the same port shows it is still closed while the client keeps trying.
  const refused = await new Promise<boolean>((resolve) => {
    const socket = new Socket();
    socket.once('error', () => resolve(true));
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.connect(port, '127.0.0.1');
  });
  t.ok(refused, 'the port refused connections when the client started dialing');
  const scheduler = await Scheduler.start({ port, host: '127.0.0.1' });
  t.teardown(() => scheduler.close());
  const client = await connecting;
  t.teardown(() => client.close());
  t.equal(client.status, 'running');
});

t.test('a refused connection that never opens fails with ConnectError after the timeout', async (t) => {
  const port = await freePort();
  const error = await Client.connect(`tcp://127.0.0.1:${port}`, { timeout: 400 }).then(() => undefined, (e: unknown) => e);
  t.type(error, ConnectError);
  t.match(String(error), /attempts/, 'it kept trying within its timeout');
});

t.test('a peer that never answers takes the timeout once, not twice', async (t) => {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  }).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const port = (server.address() as AddressInfo).port;
  const timeout = 3000;
  const started = performance.now();
  const error = await Client.connect(`tcp://127.0.0.1:${port}`, { timeout }).then(() => undefined, (e: unknown) => e);
  const took = performance.now() - started;
  t.type(error, TimeoutError);
  // Before the fix the failed client waited out a graceful close as well: timeout + 2 s.
  t.ok(took < timeout * 1.5, `rejected after the timeout, not after timeout plus a close (took ${Math.round(took)} ms)`);
});
