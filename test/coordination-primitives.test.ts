// The coordination extension served by a real MailboxActor over inproc comms,
// used through the client-side classes (Lock, Semaphore, Event, Queue, Variable).
import t from 'tap';
import { MailboxActor, type Handler, type Peer } from '../dist/lib/comm/mailbox.js';
import { encodeValue, decodeValue } from '../dist/lib/protocol/values.js';
import type { CoordinationOps, OpDict } from '../dist/lib/protocol/messages.js';
import { TimeoutError } from '../dist/lib/errors.js';
import { Client } from '../dist/lib/client/client.js';
import { Future } from '../dist/lib/client/future.js';
import {
  CoordinationError,
  coordinationClientOf,
  installClientAdapter,
  setClientAdapter,
  Event,
  Lock,
  NoClientError,
  Queue,
  Semaphore,
  Variable,
  createCoordinationExtension,
  resolveClient,
  setDefaultClientResolver,
  type CoordinationClient,
  type CoordinationExtension,
  type CoordinationExtensionOptions,
} from '../dist/lib/coordination/index.js';

/** Stands in for the Scheduler: serves the extension and records who wants which key. */
class CoordinationServer extends MailboxActor {
  readonly wants = new Map<string, Set<string>>();
  readonly extension: CoordinationExtension;
  protected readonly handlers: Record<string, Handler>;

  constructor(options: CoordinationExtensionOptions = {}) {
    super('coordination-test-server');
    this.extension = createCoordinationExtension(
      {
        now: () => Date.now(),
        desireKey: (client, key) => {
          let keys = this.wants.get(client);
          if (keys === undefined) this.wants.set(client, (keys = new Set()));
          keys.add(key);
        },
        releaseKey: (client, key) => {
          this.wants.get(client)?.delete(key);
        },
        setTimer: (ms, fn) => {
          const timer = setTimeout(fn, ms);
          timer.unref();
          return () => clearTimeout(timer);
        },
      },
      options,
    );
    this.handlers = {
      ...this.extension.handlers,
      'register-client': (msg: OpDict, from: Peer | undefined) => {
        if (from !== undefined) from.role = msg['client'];
        return { id: msg['client'], address: 'inproc://test' };
      },
      // What a real Client sends about its futures (the Scheduler's who-wants bookkeeping).
      'client-desires-keys': (msg: OpDict) => {
        for (const key of msg['keys'] as string[]) {
          let keys = this.wants.get(msg['client'] as string);
          if (keys === undefined) this.wants.set(msg['client'] as string, (keys = new Set()));
          keys.add(key);
        }
      },
      'client-releases-keys': (msg: OpDict) => {
        for (const key of msg['keys'] as string[]) this.wants.get(msg['client'] as string)?.delete(key);
      },
      'close-client': () => undefined,
    };
  }

  protected override onPeerClosed(peer: Peer): void {
    if (typeof peer.role === 'string') this.extension.peerClosed(peer.role);
  }

  wanted(client: string): string[] {
    return [...(this.wants.get(client) ?? [])].sort();
  }
}

/** A future as far as the primitives care: something with a key. */
class KeyRef {
  constructor(readonly key: string, readonly owner: string) {}
}

class TestClientActor extends MailboxActor {
  protected readonly handlers: Record<string, Handler> = {};
}

let clientCount = 0;

async function connectClient(server: string): Promise<CoordinationClient & { peer: Peer; actor: TestClientActor }> {
  const actor = new TestClientActor('coordination-test-client');
  const peer = await actor.connect(server);
  const id = `client-${++clientCount}`;
  await peer.call({ op: 'register-client', client: id });
  return {
    id,
    peer,
    actor,
    schedulerCall: <T>(msg: CoordinationOps) => peer.call<T>(msg as unknown as OpDict),
    futureFromKey: (key: string) => new KeyRef(key, id),
    keyOf: (value: unknown) => (value instanceof KeyRef ? value.key : undefined),
    encode: (value: unknown) => encodeValue(value),
    decode: (blob: Uint8Array) => decodeValue(blob),
  };
}

async function start(t: { teardown(fn: () => unknown): void }, options: CoordinationExtensionOptions = {}) {
  const server = new CoordinationServer(options);
  const listener = await server.listen('inproc://');
  const clients: Array<Awaited<ReturnType<typeof connectClient>>> = [];
  t.teardown(async () => {
    for (const client of clients) await client.actor.close();
    server.extension.close();
    await server.close();
  });
  return {
    server,
    address: listener.address,
    client: async () => {
      const client = await connectClient(listener.address);
      clients.push(client);
      return client;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('Lock: 20 concurrent increments from 4 clients under one lock give exactly 20', async (t) => {
  const { client } = await start(t);
  const clients = await Promise.all([client(), client(), client(), client()]);
  let counter = 0;
  let holders = 0;
  let maxHolders = 0;
  const increment = async (c: CoordinationClient) => {
    const lock = new Lock('counter', { client: c });
    t.equal(await lock.acquire(), true);
    holders++;
    maxHolders = Math.max(maxHolders, holders);
    const seen = counter;
    await sleep(1);
    counter = seen + 1;
    holders--;
    await lock.release();
  };
  await Promise.all(Array.from({ length: 20 }, (_, i) => increment(clients[i % 4]!)));
  t.equal(counter, 20);
  t.equal(maxHolders, 1, 'never two holders at once');
  t.equal(await new Lock('counter', { client: clients[0] }).locked(), false);
});

t.test('Lock: acquire times out with false, release of an unheld lock is an error, locked()', async (t) => {
  const { client } = await start(t);
  const [a, b] = await Promise.all([client(), client()]);
  const mine = new Lock('L', { client: a });
  const theirs = new Lock('L', { client: b });
  t.equal(await mine.acquire({ timeout: '1s' }), true);
  t.equal(await theirs.locked(), true);
  const started = Date.now();
  t.equal(await theirs.acquire({ timeout: 80 }), false);
  t.ok(Date.now() - started >= 70, 'waited about the timeout');
  await t.rejects(theirs.release(), { name: 'CoordinationError', message: /Lock is not held/ });
  t.equal(await theirs.acquire({ timeout: 0 }), false, 'timeout 0 only tries');
  await mine.release();
  t.equal(await mine.locked(), false);
  await t.rejects(mine.release(), CoordinationError, 'released twice');
  t.equal(await theirs.acquire({ timeout: 0 }), true);
  await theirs.release();
});

t.test('Semaphore: never more than maxLeases holders, over-release and inconsistent maxLeases', async (t) => {
  const { client } = await start(t);
  const [a, b] = await Promise.all([client(), client()]);
  let holders = 0;
  let maxHolders = 0;
  const work = async (c: CoordinationClient) => {
    const sem = new Semaphore({ maxLeases: 2, name: 'db', client: c });
    await sem.acquire();
    holders++;
    maxHolders = Math.max(maxHolders, holders);
    await sleep(3);
    holders--;
    t.equal(await sem.release(), true);
  };
  await Promise.all(Array.from({ length: 10 }, (_, i) => work(i % 2 ? a : b)));
  t.equal(maxHolders, 2);
  const sem = new Semaphore({ maxLeases: 2, name: 'db', client: a });
  await t.rejects(sem.release(), { name: 'CoordinationError', message: /Released too often/ });
  t.equal(await sem.acquire(), true);
  t.equal(sem.heldLeases, 1);
  const wrong = new Semaphore({ maxLeases: 3, name: 'db', client: b });
  await t.rejects(wrong.acquire({ timeout: 0 }), { name: 'CoordinationError', message: /Inconsistent maxLeases/ });
  t.equal(await sem.getValue(), 1);
  await sem.release();
  t.throws(() => new Semaphore({ maxLeases: 0, client: a }), TypeError);
});

t.test('Semaphore: the lease of a client that disconnects is recovered at once', async (t) => {
  const { server, client } = await start(t);
  const [doomed, waiting] = await Promise.all([client(), client()]);
  const held = new Semaphore({ name: 'one', client: doomed });
  t.equal(await held.acquire(), true);
  const acquiring = new Semaphore({ name: 'one', client: waiting }).acquire({ timeout: '5s' });
  const doomedWait = new Lock('other', { client: doomed });
  await new Lock('other', { client: waiting }).acquire();
  const parkedForever = doomedWait.acquire().catch((error: Error) => error.name);
  await sleep(20);
  t.same(server.extension.parkedCounts().semaphore, 2);
  held.close();
  await doomed.actor.close();
  t.equal(await acquiring, true, 'the waiter got the dead client\'s lease');
  t.equal(await parkedForever, 'CommClosedError', 'the dead client\'s own call ended with its comm');
  t.equal(server.extension.parkedCounts().semaphore, 0, 'the dead client\'s parked acquire was dropped');
});

t.test('Semaphore: leases expire when not refreshed, and are kept while refreshed', async (t) => {
  const { client } = await start(t, { leaseTimeout: 300, leaseValidationInterval: 40 });
  const [holder, other] = await Promise.all([client(), client()]);
  const kept = new Semaphore({ name: 'refreshed', client: holder });
  t.equal(await kept.acquire(), true);
  t.equal(await new Semaphore({ name: 'refreshed', client: other }).acquire({ timeout: 700 }), false,
    'a refreshed lease outlives the lease timeout');
  await kept.release();

  const silent = new Semaphore({ name: 'silent', client: holder });
  t.equal(await silent.acquire(), true);
  silent.close(); // stops refreshing: the holder looks hung
  const started = Date.now();
  t.equal(await new Semaphore({ name: 'silent', client: other }).acquire({ timeout: '3s' }), true);
  const waited = Date.now() - started;
  t.ok(waited >= 250 && waited < 2500, `the stale lease was taken back after about the lease timeout (${waited} ms)`);
  t.equal(await silent.release(), false, 'releasing an expired lease says so instead of failing');
});

t.test('Event: set wakes every waiter, wait returns false on timeout, clear', async (t) => {
  const { client } = await start(t);
  const clients = await Promise.all([client(), client(), client()]);
  const event = new Event('go', { client: clients[0] });
  t.equal(await event.isSet(), false);
  t.equal(await event.wait({ timeout: 30 }), false);
  const waiters = Array.from({ length: 6 }, (_, i) => new Event('go', { client: clients[i % 3] }).wait());
  await sleep(20);
  await new Event('go', { client: clients[1] }).set();
  t.same(await Promise.all(waiters), [true, true, true, true, true, true]);
  t.equal(await event.isSet(), true);
  t.equal(await event.wait({ timeout: 0 }), true);
  await event.clear();
  t.equal(await event.isSet(), false);
  t.equal(await event.wait({ timeout: '20ms' }), false);
});

t.test('Queue: values and futures round-trip, futures stay alive while queued', async (t) => {
  const { server, client } = await start(t);
  const [producer, consumer] = await Promise.all([client(), client()]);
  const out = new Queue('jobs', { client: producer });
  const inn = new Queue('jobs', { client: consumer });
  await out.put({ status: 'OK', stage: 1234 });
  await out.put(new KeyRef('inc-0123', producer.id));
  await out.put([1, 2, 3]);
  t.equal(await inn.qsize(), 3);
  t.same(server.wanted('queue-jobs'), ['inc-0123'], 'the queue holds the future key');
  t.same(await inn.get(), { status: 'OK', stage: 1234 });
  const future = await inn.get();
  t.ok(future instanceof KeyRef);
  t.same({ key: (future as KeyRef).key, owner: (future as KeyRef).owner }, { key: 'inc-0123', owner: consumer.id },
    'comes back as a future of the getting client');
  t.same(server.wanted(consumer.id), ['inc-0123'], 'handed to the getter before the queue let go');
  t.same(server.wanted('queue-jobs'), []);
  t.same(await inn.get({ batch: true }), [[1, 2, 3]]);
  t.same(await inn.get({ batch: true }), [], 'batch: true never waits');

  const later = inn.get({ batch: 2, timeout: '2s' });
  await out.put('a');
  await sleep(10);
  await out.put('b');
  t.same(await later, ['a', 'b']);
  await t.rejects(inn.get({ timeout: 40 }), TimeoutError);
  t.equal(await inn.qsize(), 0);
});

t.test('Queue: maxsize blocks put until a get, put times out', async (t) => {
  const { client } = await start(t);
  const [a, b] = await Promise.all([client(), client()]);
  const q = new Queue<number>('small', { maxsize: 1, client: a });
  await q.put(1);
  await t.rejects(q.put(2, { timeout: 40 }), { name: 'TimeoutError', message: /put on queue "small" timed out after 40 ms/ });
  let putDone = false;
  const blocked = q.put(3).then(() => { putDone = true; });
  await sleep(20);
  t.equal(putDone, false, 'put waits while the queue is full');
  const reader = new Queue<number>('small', { client: b });
  t.equal(await reader.get(), 1);
  await blocked;
  t.equal(putDone, true);
  t.equal(await reader.get(), 3);
  await t.rejects(new Queue('small', { maxsize: 5, client: b }).qsize().then(() => new Queue('small', { maxsize: 5, client: b }).put(1)),
    { name: 'CoordinationError', message: /Inconsistent maxsize/ });
  await t.rejects(reader.get({ batch: 2 }), /batch of 2/);
});

t.test('Variable: get waits for the first set, timeouts, holds its future until replaced or deleted', async (t) => {
  const { server, client } = await start(t);
  const [a, b] = await Promise.all([client(), client()]);
  const writer = new Variable('stop', { client: a });
  const reader = new Variable('stop', { client: b });
  await t.rejects(reader.get({ timeout: 30 }), TimeoutError);
  const waiting = reader.get();
  await sleep(20);
  await writer.set(false);
  t.equal(await waiting, false);
  t.equal(await reader.get(), false);

  await writer.set(new KeyRef('x-1', a.id));
  t.same(server.wanted('variable-stop'), ['x-1']);
  const got = (await reader.get()) as KeyRef;
  t.same([got.key, got.owner], ['x-1', b.id]);
  t.same(server.wanted(b.id), ['x-1']);
  await writer.set(new KeyRef('x-2', a.id));
  t.same(server.wanted('variable-stop'), ['x-2'], 'the previous future is released');
  await writer.delete();
  t.same(server.wanted('variable-stop'), []);
  await t.rejects(reader.get({ timeout: 0 }), TimeoutError, 'deleted: unset again');
});

t.test('default client: a clear error without one, the resolver otherwise; names', async (t) => {
  const { client } = await start(t);
  const c = await client();
  setDefaultClientResolver(undefined);
  t.throws(() => resolveClient(), NoClientError);
  await t.rejects(new Event('e').isSet(), { name: 'NoClientError', message: /pass \{ client \}/ });
  setDefaultClientResolver(() => c);
  t.teardown(() => setDefaultClientResolver(undefined));
  t.equal(resolveClient(), c);
  const lock = new Lock();
  t.match(lock.name, /^lock-[0-9a-f]{32}$/);
  t.match(new Semaphore().name, /^semaphore-[0-9a-f]{32}$/);
  t.not(new Lock().name, lock.name, 'unnamed locks are distinct');
  t.equal(await lock.acquire(), true);
  await lock.release();
  t.match(new Queue().name, /^queue-[0-9a-f]{32}$/);
  t.throws(() => new Variable(''), TypeError);
});

t.test('bad requests get clear errors and leave the server working', async (t) => {
  const { client } = await start(t);
  const c = await client();
  await t.rejects(c.peer.call({ op: 'semaphore_acquire', name: 'x', holder: 'h', leaseId: 'l' }), { name: 'TypeError', message: /'maxLeases' must be a positive integer/ });
  await t.rejects(c.peer.call({ op: 'queue_put', name: 'q', holder: 'h', item: { type: 'value', value: 'not bytes' } }), /'item' must be/);
  await t.rejects(c.peer.call({ op: 'event_wait', name: 'e', holder: 'h', timeout: 'soon' }), /invalid duration/);
  await t.rejects(c.peer.call({ op: 'queue_get', name: 'q', holder: 'h', batch: 'all' }), /'batch' must be/);
  await t.rejects(c.peer.call({ op: 'semaphore_refresh_leases', name: 's', holder: 'h', leaseIds: [1] }), /list of strings/);
  t.equal(await new Event('still-works', { client: c }).isSet(), false);
});

t.test('closing the extension answers every parked request', async (t) => {
  const { server, client } = await start(t);
  const c = await client();
  const lockWait = (async () => {
    await new Lock('held', { client: c }).acquire();
    return new Lock('held', { client: c }).acquire();
  })();
  const getWait = new Queue('empty', { client: c }).get().catch((error: Error) => error.name);
  const eventWait = new Event('never', { client: c }).wait();
  await sleep(20);
  server.extension.close();
  t.equal(await lockWait, false);
  t.equal(await getWait, 'CommClosedError');
  t.equal(await eventWait, false);
  t.same(server.extension.parkedCounts(), { semaphore: 0, event: 0, queue: 0, variable: 0 });
});

t.test('a real Client works as the client option and as the default client', async (t) => {
  const { server, address } = await start(t);
  const client = await Client.connect(address);
  const other = await Client.connect(address);
  t.teardown(async () => {
    setDefaultClientResolver(undefined);
    setClientAdapter(undefined);
    await client.close();
    await other.close();
  });
  t.throws(() => resolveClient(client), TypeError, 'no adapter installed yet');
  installClientAdapter();
  t.equal(resolveClient(client).id, client.id);
  t.equal(resolveClient().id, other.id, 'the newest open client is the default');

  const lock = new Lock('real', { client });
  t.equal(await lock.acquire(), true);
  t.equal(await new Lock('real').acquire({ timeout: 0 }), false, 'the default client is another holder');
  await lock.release();

  const adapter = coordinationClientOf(client);
  const future = adapter.futureFromKey('inc-abc') as Future<unknown>;
  t.ok(future instanceof Future);
  t.equal(adapter.keyOf(future), 'inc-abc');
  t.equal(adapter.keyOf({ key: 'inc-abc' }), undefined, 'only Futures travel as keys');
  const queue = new Queue('real-q', { client });
  await queue.put(future);
  await queue.put({ n: 1 });
  t.same(server.wanted('queue-real-q'), ['inc-abc']);
  const got = await new Queue('real-q', { client: other }).get();
  t.ok(got instanceof Future);
  t.equal((got as Future<unknown>).key, 'inc-abc');
  t.same(server.wanted(other.id), ['inc-abc'], 'the getting Client wants the key');
  t.same(await new Queue('real-q', { client: other }).get(), { n: 1 });
});
