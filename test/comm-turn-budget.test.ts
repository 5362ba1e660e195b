/**
 * A backlog of messages is sent and handed over in slices, letting the event
 * loop turn in between (lib/comm/turn-budget.ts), and still arrives complete
 * and in order: over TCP (both the onread and the 'data' paths) and inproc.
 */
import t from 'tap';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from '../dist/lib/comm/registry.js';
import { inprocPair } from '../dist/lib/comm/inproc.js';
import { DELIVER_BUDGET_MS, MAX_BATCH_MESSAGES, nextTurn, TURN_BUDGET_MS, turnOver } from '../dist/lib/comm/turn-budget.js';
import type { Comm } from '../dist/lib/comm/comm.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

const N = 60_000;

/** Counts the event loop's turns (check phases) from `start()` until `stop()`. */
function turnCounter(): { start: () => void; stop: () => number } {
  let turns = 0;
  let ticking = false;
  const tick = (): void => {
    if (!ticking) return;
    turns++;
    setImmediate(tick);
  };
  return {
    start: () => {
      ticking = true;
      setImmediate(tick);
    },
    stop: () => {
      ticking = false;
      return turns;
    },
  };
}

/** Writes N key reports in one tick; resolves with the ns, in arrival order, and how often the loop turned while they arrived. */
async function backlog(sender: Comm, receiver: Comm): Promise<{ ns: number[]; turns: number }> {
  const ns: number[] = [];
  const counter = turnCounter();
  let turns = 0;
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  receiver.onMessage((msg: OpDict) => {
    if (ns.length === 0) {
      counter.start();
      // The first handling alone outlasts the turn's budget, so the rest must
      // wait for a later turn however fast this machine hands messages over.
      const until = performance.now() + DELIVER_BUDGET_MS + 2;
      while (performance.now() < until);
    }
    ns.push(msg.n as number);
    if (ns.length === N) {
      turns = counter.stop();
      resolve();
    }
  });
  for (let n = 0; n < N; n++) sender.write({ op: 'key-in-memory', key: `inc-${n.toString(16).padStart(32, '0')}`, type: 'number', nbytes: 8, n });
  // A bound, so that a lost message fails the ordering check instead of hanging the test.
  const bound = new AbortController();
  await Promise.race([all, delay(60_000, undefined, { signal: bound.signal }).catch(() => undefined)]);
  bound.abort();
  return { ns, turns };
}

const inOrder = (ns: number[]): boolean => ns.length === N && ns.every((n, i) => n === i);

t.test('TCP: a backlog goes out in several wire messages and is handed over across turns, in order', async (t) => {
  t.ok(N > 10 * MAX_BATCH_MESSAGES, 'more than ten wire messages worth');
  let accepted!: (socket: net.Socket) => void;
  const server = net.createServer({ pauseOnConnect: true }, (socket) => accepted(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const { TcpComm } = await import('../dist/lib/comm/tcp.js');
  for (const path of ['onread', 'data events'] as const) {
    const sockets = new Promise<net.Socket>((resolve) => (accepted = resolve));
    const sender = await connect(`tcp://127.0.0.1:${port}`);
    const socket = await sockets;
    // The listener side on 'data' events (no onread): the fallback path also slices its deliveries.
    const receiver = path === 'data events' ? new TcpComm(socket) : sender;
    const writer = path === 'data events' ? sender : new TcpComm(socket);
    const { ns, turns } = await backlog(writer, receiver);
    t.ok(inOrder(ns), `${path}: all ${N} arrived in order (${ns.length})`);
    t.ok(turns > 0, `${path}: the event loop turned ${turns} times while they arrived`);
    await sender.close();
    if (path === 'data events') await receiver.close();
    else await writer.close();
  }
});

t.test('inproc (direct): a long batch is handed over across turns, in order', async (t) => {
  const [a, b] = inprocPair(undefined, undefined, { direct: true });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const { ns, turns } = await backlog(a, b);
  t.ok(inOrder(ns), `all ${N} arrived in order (${ns.length})`);
  t.ok(turns > 0, `the event loop turned ${turns} times while they arrived`);
  // A batch arriving while an earlier one is still being handed over waits behind it.
  const later: number[] = [];
  b.onMessage((msg: OpDict) => later.push(msg.n as number));
  for (let n = 0; n < N; n++) a.write({ op: 'x', n });
  await delay(0);
  for (let n = N; n < N + 10; n++) a.write({ op: 'x', n });
  for (let i = 0; i < 600 && later.length < N + 10; i++) await delay(10);
  t.ok(later.length === N + 10 && later.every((n, i) => n === i), 'two batches, one behind the other, keep their order');
});

/** Keeps this thread busy for a little longer than the shared turn budget. */
function spendTheTurn(): void {
  const until = performance.now() + TURN_BUDGET_MS + 2;
  while (performance.now() < until);
}

t.test('one turn budget for the thread: once spent, another comm\'s batch waits for a later turn', async (t) => {
  const [a1, b1] = inprocPair(undefined, undefined, { direct: true });
  const [a2, b2] = inprocPair(undefined, undefined, { direct: true });
  t.teardown(async () => {
    await Promise.all([a1.close(), b1.close(), a2.close(), b2.close()]);
  });
  const events: string[] = [];
  const second: number[] = [];
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  b2.onMessage((msg: OpDict) => {
    events.push(`b2 ${msg.n as number}`);
    second.push(msg.n as number);
    if (second.length === 20) resolve();
  });
  b1.onMessage(() => {
    // The first comm's handler spends the thread's turn, then the other comm gets messages.
    turnOver();
    spendTheTurn();
    t.ok(turnOver(), 'the turn is spent');
    setImmediate(() => events.push('later turn'));
    for (let n = 0; n < 20; n++) a2.write({ op: 'x', n });
  });
  a1.write({ op: 'go' });
  await all;
  t.equal(events[0], 'later turn', 'the second comm\'s batch was not handed over in the spent turn');
  t.same(second, Array.from({ length: 20 }, (_, i) => i), 'and it arrived whole, in order');
});

t.test('work put off to a later turn runs in order, at least one piece per turn, with the loop turning between', async (t) => {
  const ran: number[] = [];
  const counter = turnCounter();
  counter.start();
  let resolve!: () => void;
  const all = new Promise<void>((r) => (resolve = r));
  const pieces = 12;
  for (let i = 0; i < pieces; i++) {
    nextTurn(() => {
      ran.push(i);
      // Each piece alone spends a turn, so each needs a turn of its own.
      spendTheTurn();
      if (i === 5) throw new Error('a piece that throws does not strand the rest');
      if (ran.length === pieces) resolve();
    });
  }
  await all;
  const turns = counter.stop();
  t.same(ran, Array.from({ length: pieces }, (_, i) => i), 'in the order given');
  t.ok(turns >= pieces - 1, `the loop turned ${turns} times for ${pieces} pieces`);
});
