/**
 * A client whose connection only blipped (the scheduler lived on) finds its
 * futures, scattered data and leases where it left them: the scheduler waits
 * for it for its grace period (actors/scheduler/client-grace.ts). Past the
 * grace it is released as a closed client is. Real processes: dscheduler and
 * dworker; the client reaches the scheduler through a TCP relay in this
 * process whose connections the test cuts.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Lock } from '../dist/index.js';
import { CliProcess, unusedPort } from './fixtures/cli-process.js';
import { eventually, startScheduler, quietEnv as env } from './fixtures/survive.js';

/** Relays TCP to the scheduler; `cut()` drops every relayed connection, `refusing` turns new ones away. */
class Relay {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  refusing = false;
  port = 0;

  private constructor(private readonly target: number) {
    this.server = createServer((inbound) => this.relay(inbound));
  }

  static async start(target: number): Promise<Relay> {
    const relay = new Relay(target);
    await new Promise<void>((resolve) => relay.server.listen(0, '127.0.0.1', resolve));
    relay.port = (relay.server.address() as { port: number }).port;
    return relay;
  }

  private relay(inbound: Socket): void {
    if (this.refusing) {
      inbound.destroy();
      return;
    }
    const outbound = connect(this.target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A dscheduler (with `flags`) and a dworker, a relay in front of the
 * scheduler, a client through the relay that waits up to 30 s to reconnect
 * and an observer connected directly that never does. All closed at teardown.
 */
async function blipCluster(t: Tap.Test, flags: string[], nthreads: number): Promise<{ relay: Relay; client: Client; observer: Client }> {
  const port = await unusedPort();
  const address = `tcp://127.0.0.1:${port}`;
  const scheduler = await startScheduler(port, ['--no-dashboard', ...flags]);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const workers = new CliProcess('dworker', [address, '--nthreads', String(nthreads)], env);
  t.teardown(() => workers.stop('SIGKILL'));
  await workers.waitForStdout(/^Start worker at/m);
  const relay = await Relay.start(port);
  t.teardown(() => relay.close());

  const client = await Client.connect(`tcp://127.0.0.1:${relay.port}`, { reconnectTimeout: '30s' });
  t.teardown(() => client.close());
  const observer = await Client.connect(address, { reconnectTimeout: 0 });
  t.teardown(() => observer.close());
  await client.waitForWorkers(1);
  return { relay, client, observer };
}

const actions = async (client: Client): Promise<string[]> =>
  (await client.getEvents('recovery')).map(([, msg]) => `${(msg as { action: string }).action} ${(msg as { client?: string }).client ?? ''}`);

t.test('a connection blip: futures, scattered data and a Lock lease are still there, nothing recomputed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dts-blip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { relay, client, observer } = await blipCluster(t, [], 2);
  const runs = join(dir, 'runs.txt');
  const [scattered] = await client.scatter([{ only: 'here' }]);
  const x = client.submit(async (path: string) => {
    const fs = await import('node:fs/promises');
    await fs.appendFile(path, 'x;');
    return 42;
  }, runs);
  t.equal(await x.result(), 42);
  const lock = new Lock('blip', { client });
  t.equal(await lock.acquire(), true);

  relay.cut();
  // The scheduler noticed and is waiting for the client (the observer reads it on the recovery topic).
  const waitingFor = await eventually(async () => ((await actions(observer)).includes(`client-grace-started ${client.id}`) ? true : undefined));
  t.ok(waitingFor, 'the scheduler keeps the client for its grace period');
  t.equal(await new Lock('blip', { client: observer }).acquire({ timeout: 100 }), false, 'meanwhile its lease holds');

  const heldBefore = (await observer.whoHas([x, scattered!]));
  // A call of the client's own waits for its reconnection (through the relay, which lets it through again).
  const held = await client.whoHas([x, scattered!]);
  t.ok((await actions(observer)).includes(`client-reconnected ${client.id}`), 'its return is on the recovery topic');
  t.same(held, heldBefore, 'x and the scattered value (which has no recipe) are where they were');
  t.ok((held[scattered!.key] ?? []).length > 0, 'the scattered value is still held');
  t.equal(await x.result(), 42);
  t.same(await scattered!.result(), { only: 'here' });
  t.same(await client.gather([x, scattered!]), [42, { only: 'here' }]);
  t.equal(readFileSync(runs, 'utf8'), 'x;', 'x ran once: nothing was recomputed');
  t.equal(await lock.release(), true, 'the lease is still the client\'s to release');
  t.equal(await new Lock('blip', { client: observer }).acquire({ timeout: '5s' }), true, 'and then free for others');
  t.equal(await client.submit((a: number) => a + 1, 1).result(), 2, 'the client goes on submitting');
});

t.test('past its grace period a client that did not come back is released', async (t) => {
  const { relay, client, observer } = await blipCluster(t, ['--client-grace', '200ms'], 1);
  const [scattered] = await client.scatter([7]);
  const lock = new Lock('expired', { client });
  t.equal(await lock.acquire(), true);

  relay.refusing = true;
  relay.cut();
  const expired = await eventually(async () => ((await actions(observer)).includes(`client-grace-expired ${client.id}`) ? true : undefined));
  t.ok(expired, 'the grace period (--client-grace 200ms) ran out while the client could not get through');
  t.same((await observer.whoHas([scattered!.key]))[scattered!.key] ?? [], [], 'its data was released');
  t.equal(await new Lock('expired', { client: observer }).acquire({ timeout: '5s' }), true, 'and its lease');
  relay.refusing = false;
  await t.rejects(scattered!.result(), { name: 'LostDataError' }, 'back too late, the client learns its scattered value is gone');
});

t.test('the grace bookkeeping: announced time and cap, a client back in time, close, its worker gone, a stale expiry', async (t) => {
  const { createClientGrace } = await import('../dist/actors/scheduler/client-grace.js');
  const { childLogger } = await import('../dist/lib/logging.js');
  const forgotten: string[] = [];
  const disconnected: string[] = [];
  const posted: Array<{ op: string; client?: unknown; token?: unknown }> = [];
  const events: string[] = [];
  const workers = new Set(['tcp://w:1']);
  const grace = createClientGrace({
    log: childLogger('test'),
    post: (msg) => void posted.push(msg),
    forgetClient: (client) => void forgotten.push(client),
    disconnected: (client) => void disconnected.push(client),
    keysOf: () => 2,
    workerKnown: (address) => workers.has(address),
    logEvent: (_topic, msg) => void events.push(msg.action),
  }, { capMs: 50 });
  t.teardown(() => grace.close());
  const expire = (client: string, token: unknown): void => void grace.handlers['client-grace-expired']!({ op: 'client-grace-expired', client, token }, undefined);

  grace.registered('never', { op: 'register-client', reconnectTimeout: 0 });
  grace.connectionLost('never');
  t.same(forgotten, ['never'], 'a client that does not reconnect is forgotten at once');

  grace.registered('blip', { op: 'register-client', reconnectTimeout: 60_000 });
  grace.connectionLost('blip');
  t.same(disconnected, ['blip'], 'its parked requests are dropped, what it holds is kept');
  t.same([...grace.waiting], ['blip']);
  t.equal(grace.registered('blip', { op: 'register-client', reconnectTimeout: 60_000 }), true, 'back in time');
  t.same([...grace.waiting], []);
  const expiry = await new Promise<{ op: string; client?: unknown; token?: unknown }>((resolve) => {
    grace.connectionLost('blip');
    const wait = setInterval(() => {
      if (posted.length > 0) {
        clearInterval(wait);
        resolve(posted[0]!);
      }
    }, 5);
  });
  t.match(expiry, { op: 'client-grace-expired', client: 'blip' }, 'the cap (50 ms) bounds the 60 s the client announced');
  expire('blip', -1);
  t.same(forgotten, ['never'], 'an expiry of an older grace period does nothing');
  expire('blip', expiry.token);
  t.same(forgotten, ['never', 'blip'], 'the current one releases it');
  t.same(events, ['client-grace-started', 'client-grace-started', 'client-grace-expired']);
  grace.registered('remote', { op: 'register-client', reconnectTimeout: 60_000 });
  grace.connectionLost('remote');
  grace.handlers['client-grace-expired']!({ op: 'client-grace-expired', client: 'remote', token: expiry.token as number + 1 }, {} as never);
  t.same([...grace.waiting], ['remote'], 'an expiry sent over the network is ignored');
  grace.closed('remote');

  grace.registered('task', { op: 'register-client', reconnectTimeout: 60_000, worker: 'tcp://w:1' });
  grace.connectionLost('task');
  t.same([...grace.waiting], ['task'], 'a client in a living worker is waited for');
  grace.workerGone('tcp://w:1');
  t.same(forgotten.at(-1), 'task', 'until its worker goes');
  workers.delete('tcp://w:1');
  grace.registered('late', { op: 'register-client', reconnectTimeout: 60_000, worker: 'tcp://w:1' });
  grace.connectionLost('late');
  t.same(forgotten.at(-1), 'late', 'a client whose worker is already gone is not waited for');

  grace.registered('closing', { op: 'register-client', reconnectTimeout: 60_000 });
  grace.connectionLost('closing');
  grace.closed('closing');
  t.same([...grace.waiting], [], 'close-client ends the wait');
});
