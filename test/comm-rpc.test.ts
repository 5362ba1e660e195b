import t from 'tap';
import { inprocPair } from '../dist/lib/comm/inproc.js';
import { RpcChannel } from '../dist/lib/comm/rpc.js';
import { CommClosedError, LostDataError, ProtocolError, TimeoutError } from '../dist/lib/errors.js';
import type { OpDict } from '../dist/lib/protocol/messages.js';

t.test('requests carry increasing numeric ids; replies settle the matching call', async (t) => {
  const [a, b] = inprocPair();
  t.teardown(() => a.close());
  const seen: OpDict[] = [];
  b.onMessage((msg) => {
    seen.push(msg);
    // Answer out of order: the second request first.
    if (seen.length === 2) {
      b.write({ op: 'reply', id: seen[1]!.id as number, status: 'OK', result: 'second' });
      b.write({ op: 'reply', id: seen[0]!.id as number, status: 'OK', result: 'first' });
    }
  });
  const rpc = new RpcChannel(a);
  const first = rpc.call({ op: 'q', n: 1 });
  const second = rpc.call({ op: 'q', n: 2 });
  t.equal(rpc.pendingCalls, 2);
  t.same(await Promise.all([first, second]), ['first', 'second']);
  t.equal(typeof seen[0]!.id, 'number');
  t.ok((seen[1]!.id as number) > (seen[0]!.id as number));
  t.same({ op: seen[0]!.op, n: seen[0]!.n }, { op: 'q', n: 1 }, 'the request is the op-dict plus id');
  t.equal(rpc.pendingCalls, 0);
});

t.test('error replies rebuild the error class; malformed and stray replies are handled', async (t) => {
  const [a, b] = inprocPair();
  t.teardown(() => a.close());
  const server = new RpcChannel(b, {
    onMessage: (msg) => {
      const id = msg.id as number;
      if (msg.op === 'lost') server.replyError(id, new LostDataError('key x is gone'));
      else if (msg.op === 'weird') b.write({ op: 'reply', id, status: 'maybe' });
      else if (msg.op === 'stray') {
        b.write({ op: 'reply', id: 999_999, status: 'OK', result: 'nobody asked' });
        server.reply(id, 'real');
      }
    },
  });
  const client = new RpcChannel(a);
  const lost = await client.call({ op: 'lost' }).catch((e: unknown) => e);
  t.type(lost, LostDataError);
  t.equal((lost as Error).message, 'key x is gone');
  t.type(await client.call({ op: 'weird' }).catch((e: unknown) => e), ProtocolError);
  t.equal(await client.call({ op: 'stray' }), 'real', 'a reply to no outstanding call is ignored');
});

t.test('both ends call each other over one comm', async (t) => {
  const [a, b] = inprocPair();
  t.teardown(() => a.close());
  const left: RpcChannel = new RpcChannel(a, { onMessage: (m) => left.reply(m.id as number, `left:${m.op}`) });
  const right: RpcChannel = new RpcChannel(b, { onMessage: (m) => right.reply(m.id as number, `right:${m.op}`) });
  t.same(await Promise.all([left.call({ op: 'x' }), right.call({ op: 'y' }), left.call({ op: 'z' })]),
    ['right:x', 'left:y', 'right:z']);
});

t.test('timeouts clean up; close rejects everything at once; onClose follows', async (t) => {
  const [a, b] = inprocPair();
  b.onMessage(() => undefined);
  let closeReason: Error | undefined | 'unset' = 'unset';
  const rpc = new RpcChannel(a, { onClose: (reason) => { closeReason = reason; } });
  const timedOut = await rpc.call({ op: 'slow' }, { timeout: '30ms' }).catch((e: unknown) => e);
  t.type(timedOut, TimeoutError);
  t.match((timedOut as Error).message, /slow.*30 ms/);
  t.equal(rpc.pendingCalls, 0, 'a timed-out call is forgotten');
  const pending = Array.from({ length: 100 }, () => rpc.call({ op: 'forever' }, { timeout: '1h' }).catch((e: unknown) => e));
  t.equal(rpc.pendingCalls, 100);
  await b.close();
  const errors = await Promise.all(pending);
  t.ok(errors.every((e) => e instanceof CommClosedError), 'all 100 rejected with CommClosedError');
  t.type(closeReason, CommClosedError);
  t.equal(rpc.pendingCalls, 0);
});
