// A server that speaks another protocol (here HTTP): one clear, typed error, not a flood of logs or an internal error.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { Client, ProtocolError } from '../dist/index.js';
import { binPath } from './fixtures/cli-process.js';
import { runNode } from './fixtures/run-node.js';

t.test('Client.connect and dworker against an HTTP server', async (t) => {
  const server = createServer((_request, response) => response.end('hello')).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => server.close());
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  const error = await Client.connect(address, { timeout: '5s' }).then(() => undefined, (e: unknown) => e);
  t.type(error, ProtocolError);
  t.match(String((error as Error).message), /does not speak the distributed-ts protocol/);

  for (const mode of [[], ['--no-nanny']]) {
    const run = await runNode([binPath('dworker'), address, ...mode], { timeoutMs: 30_000 });
    t.notOk(run.killed, `dworker ${mode.join(' ')} ends`);
    t.equal(run.code, 1);
    t.match(run.stderr, /^dworker: .*does not speak the distributed-ts protocol/m, 'the last word says what is wrong');
    t.notMatch(run.stderr, /InvalidTransitionError|no transition/, 'no internal error');
    const lines = run.stderr.split('\n').filter((line) => line !== '').length;
    t.ok(lines <= 5, `a few lines, not a flood (${lines})`);
  }
});
