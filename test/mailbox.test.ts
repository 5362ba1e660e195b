import t from 'tap';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { MailboxActor, type Handler, type Peer } from '../dist/lib/comm/mailbox.js';
import { CommClosedError, LostDataError, TimeoutError } from '../dist/lib/errors.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

/** A logger whose lines land in `lines` (parsed), so tests can assert on what was logged. */
function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

class CustomFailure extends Error {
  override name = 'CustomFailure';
}

class ServerActor extends MailboxActor {
  streamSeen: number[] = [];
  order: string[] = [];
  closedPeers: { peer: Peer; reason?: Error }[] = [];
  handlerThis: unknown;

  protected readonly handlers: Record<string, Handler> = {
    echo: (msg) => msg.value,
    'echo-async': async (msg) => {
      await delay(5);
      return msg.value;
    },
    never: () => new Promise(() => undefined),
    'fail-sync': () => {
      throw new LostDataError('the data is gone');
    },
    'fail-async': async () => {
      await delay(1);
      throw new CustomFailure('custom failure');
    },
    'stream-fail': () => {
      throw new Error('stream handler blew up');
    },
    stream: (msg) => {
      this.streamSeen.push(msg.n as number);
    },
    count: () => this.streamSeen.length,
    record: (msg) => {
      this.order.push(msg.what as string);
    },
    trigger: () => {
      this.order.push('trigger');
      this.post({ op: 'record', what: 'posted-1' });
      this.post({ op: 'record', what: 'posted-2' });
    },
    'which-this': function (this: unknown) {
      return this instanceof ServerActor;
    },
    'caller-address': (_msg, from) => from?.address,
    unsendable: () => ({ fn: () => 1 }),
  };

  protected override onPeerClosed(peer: Peer, reason?: Error): void {
    this.order.push('peer-closed');
    this.closedPeers.push({ peer, reason });
  }
}

class ClientActor extends MailboxActor {
  received: OpDict[] = [];
  protected readonly handlers: Record<string, Handler> = {
    push: (msg) => {
      this.received.push(msg);
    },
  };
}

for (const scheme of ['inproc', 'tcp'] as const) {
  const listenAddress = scheme === 'inproc' ? 'inproc://' : 'tcp://127.0.0.1:0';

  async function pair(t: { teardown: (fn: () => unknown) => void }, serverLogger?: Logger) {
    const server = new ServerActor(`server-${scheme}`, serverLogger === undefined ? {} : { logger: serverLogger });
    const client = new ClientActor(`client-${scheme}`);
    const listener = await server.listen(listenAddress);
    const peer = await client.connect(listener.address);
    t.teardown(async () => {
      await client.close();
      await server.close();
    });
    return { server, client, listener, peer };
  }

  t.test(`${scheme}: rpc echo, sync and async handlers`, async (t) => {
    const { server, peer, listener } = await pair(t);
    t.match(listener.address, new RegExp(`^${scheme}://`));
    t.same(await peer.call({ op: 'echo', value: { a: [1, 2, 3], s: 'x' } }), { a: [1, 2, 3], s: 'x' });
    t.equal(await peer.call({ op: 'echo-async', value: 42 }), 42);
    const bytes = new Uint8Array([1, 2, 3, 250]);
    t.same([...(await peer.call<Uint8Array>({ op: 'echo', value: bytes }))], [1, 2, 3, 250]);
    t.equal(await peer.call({ op: 'which-this' }), true, 'handlers run with this = actor');
    const callerAddress = await peer.call<string>({ op: 'caller-address' });
    t.equal(typeof callerAddress, 'string');
    t.equal(server.peers.size, 1);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => peer.call({ op: 'echo', value: i })));
    t.same(results, Array.from({ length: 200 }, (_, i) => i), 'concurrent calls are matched to their replies');
  });

  t.test(`${scheme}: handler errors become error replies and the actor keeps working`, async (t) => {
    const { logger, lines } = capturingLogger();
    const { peer } = await pair(t, logger);
    const syncError = await peer.call({ op: 'fail-sync' }).catch((e: unknown) => e);
    t.type(syncError, Error);
    t.equal((syncError as Error).name, 'LostDataError');
    t.match((syncError as Error).message, /the data is gone/);
    const asyncError = await peer.call({ op: 'fail-async' }).catch((e: unknown) => e);
    t.equal((asyncError as Error).name, 'CustomFailure');
    t.match((asyncError as Error).message, /custom failure/);

    peer.send({ op: 'stream-fail' });
    t.equal(await peer.call({ op: 'echo', value: 'still alive' }), 'still alive');
    t.ok(lines.some((l) => l.msg === 'stream message handler failed' && l.op === 'stream-fail' && l.level === 50),
      'a failing stream handler is logged as an error');
  });

  t.test(`${scheme}: a reply or request that cannot be encoded rejects the call, nothing hangs`, async (t) => {
    const { peer } = await pair(t);
    const badReply = await peer.call({ op: 'unsendable' }, { timeout: '5s' }).catch((e: unknown) => e);
    t.equal((badReply as Error).name, 'SerializationError', 'an unencodable result becomes an error reply');
    const badRequest = await peer.call({ op: 'echo', value: () => 2 }, { timeout: '5s' }).catch((e: unknown) => e);
    t.equal((badRequest as Error).name, 'SerializationError', 'an unencodable request rejects locally');
    t.equal(await peer.call({ op: 'echo', value: 'fine' }), 'fine', 'the connection stays up');
  });

  t.test(`${scheme}: unknown op`, async (t) => {
    const { logger, lines } = capturingLogger();
    const { peer } = await pair(t, logger);
    const error = await peer.call({ op: 'no-such-op' }).catch((e: unknown) => e);
    t.equal((error as Error).name, 'UnknownOpError');
    t.match((error as Error).message, /no-such-op/);
    const proto = await peer.call({ op: 'constructor' }).catch((e: unknown) => e);
    t.equal((proto as Error).name, 'UnknownOpError', 'inherited properties are not handlers');
    peer.send({ op: 'also-unknown' });
    t.equal(await peer.call({ op: 'echo', value: 1 }), 1);
    t.ok(lines.some((l) => l.op === 'also-unknown' && l.level === 50), 'unknown stream op logged');
  });

  t.test(`${scheme}: call timeout rejects with TimeoutError, not early and not late`, async (t) => {
    const { peer } = await pair(t);
    const started = performance.now();
    const error = await peer.call({ op: 'never' }, { timeout: '200ms' }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    t.type(error, TimeoutError);
    t.ok(elapsed >= 190 && elapsed < 2500, `timed out after ${elapsed.toFixed(0)} ms`);
    t.equal(await peer.call({ op: 'echo', value: 'after' }, { timeout: 1000 }), 'after');
  });

  t.test(`${scheme}: peer closing rejects every pending call with CommClosedError promptly`, async (t) => {
    const { server, peer } = await pair(t);
    const calls = Array.from({ length: 5 }, () => peer.call({ op: 'never' }).catch((e: unknown) => e));
    await peer.call({ op: 'echo', value: 0 });
    const started = performance.now();
    await server.close();
    const errors = await Promise.all(calls);
    const elapsed = performance.now() - started;
    for (const error of errors) t.type(error, CommClosedError);
    t.ok(elapsed < 2500, `rejected after ${elapsed.toFixed(0)} ms`);
    t.equal(peer.closed, true);
    const late = await peer.call({ op: 'echo', value: 1 }).catch((e: unknown) => e);
    t.type(late, CommClosedError, 'a call on a closed peer rejects at once');
    peer.send({ op: 'echo', value: 1 }); // a no-op, must not throw
  });

  t.test(`${scheme}: 10,000 stream messages stay ordered with interleaved RPCs`, async (t) => {
    const { server, peer } = await pair(t);
    const counts: Promise<number>[] = [];
    const expected: number[] = [];
    for (let n = 0; n < 10_000; n++) {
      peer.send({ op: 'stream', n });
      if (n % 97 === 0) {
        counts.push(peer.call<number>({ op: 'count' }));
        expected.push(n + 1);
      }
      if (n % 1000 === 999) await delay(0); // let some batches go out mid-stream
    }
    t.same(await Promise.all(counts), expected, 'each RPC sees exactly the stream messages sent before it');
    t.equal(server.streamSeen.length, 10_000);
    t.ok(server.streamSeen.every((n, i) => n === i), 'stream messages arrive in order');
  });

  t.test(`${scheme}: messages a handler posts to itself are handled before later messages`, async (t) => {
    const { server, peer } = await pair(t);
    peer.send({ op: 'trigger' });
    peer.send({ op: 'record', what: 'after' });
    await peer.call({ op: 'echo', value: 0 });
    t.same(server.order, ['trigger', 'posted-1', 'posted-2', 'after']);
  });

  t.test(`${scheme}: onPeerClosed arrives through the inbox after the peer's messages`, async (t) => {
    const { server, client, peer } = await pair(t);
    peer.send({ op: 'record', what: 'last words' });
    await client.close();
    for (let i = 0; i < 100 && server.closedPeers.length === 0; i++) await delay(10);
    t.same(server.order, ['last words', 'peer-closed']);
    t.equal(server.closedPeers.length, 1);
    t.equal(server.peers.size, 0);
    t.equal(peer.closed, true);
  });

  t.test(`${scheme}: server can push to a client peer and call it`, async (t) => {
    const server = new (class extends MailboxActor {
      clientPeer?: Peer;
      protected readonly handlers: Record<string, Handler> = {
        hello: (_msg, from) => {
          this.clientPeer = from;
          from!.send({ op: 'push', value: 'hi' });
          return 'ok';
        },
      };
    })('pusher');
    const client = new ClientActor('pushed');
    t.teardown(async () => {
      await client.close();
      await server.close();
    });
    const listener = await server.listen(listenAddress);
    const peer = await client.connect(listener.address);
    t.equal(await peer.call({ op: 'hello' }), 'ok');
    for (let i = 0; i < 100 && client.received.length === 0; i++) await delay(5);
    t.same(client.received, [{ op: 'push', value: 'hi' }]);
    const error = await server.clientPeer!.call({ op: 'missing' }).catch((e: unknown) => e);
    t.equal((error as Error).name, 'UnknownOpError', 'calls work in both directions over one comm');
  });
}

t.test('post from outside a handler is handled asynchronously, in order', async (t) => {
  const actor = new ServerActor('poster');
  t.teardown(() => actor.close());
  actor.post({ op: 'record', what: 'a' });
  actor.post({ op: 'record', what: 'b' });
  t.same(actor.order, [], 'not handled synchronously inside post()');
  await Promise.resolve();
  t.same(actor.order, ['a', 'b']);
});

t.test('close() closes listeners: nobody can dial in afterwards', async (t) => {
  const server = new ServerActor('closing');
  const listener = await server.listen('inproc://');
  await server.close();
  const client = new ClientActor('late');
  t.teardown(() => client.close());
  await t.rejects(client.connect(listener.address), { name: 'ConnectError' });
});
