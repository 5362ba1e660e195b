import t from 'tap';
import { serializeError, deserializeError, registerErrorClass } from '../dist/lib/protocol/errors.js';
import { encodeBatch, WireDecoder } from '../dist/lib/protocol/wire.js';
import { CancelledError, KilledWorker, SerializationError, ProtocolError, MessageTooLargeError } from '../dist/lib/errors.js';
import type { SerializedError } from '../dist/lib/protocol/messages.js';

/** What a task error goes through: serialized on a worker, sent in an op-dict, rebuilt on a client. */
function acrossTheWire(serialized: SerializedError): SerializedError {
  const [message] = new WireDecoder().push(Buffer.concat(encodeBatch([{ op: 'task-erred', key: 'k', exception: serialized }])));
  return message!.exception as SerializedError;
}

t.test('an Error keeps name, message, remote stack, own props and cause', async (t) => {
  const error = Object.assign(new TypeError('bad input', { cause: new RangeError('too big') }), { code: 'E_INPUT', attempt: 3 });
  const serialized = serializeError(error);
  t.same(Object.keys(serialized).sort(), ['cause', 'message', 'name', 'props', 'stack']);
  t.same(serialized.props, { code: 'E_INPUT', attempt: 3 });
  const back = deserializeError(acrossTheWire(serialized));
  t.ok(back instanceof TypeError, 'built-in class restored');
  t.equal(back.name, 'TypeError');
  t.equal(back.message, 'bad input');
  t.equal(back.stack, error.stack, 'the remote stack, not a local one');
  t.equal((back as unknown as { code: string }).code, 'E_INPUT');
  t.ok(back.cause instanceof RangeError);
  t.equal((back.cause as Error).message, 'too big');
});

t.test('lib/errors.ts classes come back as themselves with their fields', async (t) => {
  const cancelled = deserializeError(acrossTheWire(serializeError(new CancelledError('x-1', 'lost'))));
  t.ok(cancelled instanceof CancelledError);
  t.equal(cancelled.name, 'CancelledError');
  t.equal((cancelled as CancelledError).key, 'x-1');
  t.equal((cancelled as CancelledError).reason, 'lost');
  const killed = deserializeError(serializeError(new KilledWorker('y', 'tcp://a:1', 2)));
  t.ok(killed instanceof KilledWorker);
  t.equal((killed as KilledWorker).allowedFailures, 2);
  t.match(killed.message, /on 3 different workers/);
  const protocol = deserializeError(serializeError(new MessageTooLargeError('huge')));
  t.ok(protocol instanceof MessageTooLargeError);
  t.ok(protocol instanceof ProtocolError, 'subclass chain intact');
});

t.test('custom error classes keep their name; registered ones their class', async (t) => {
  class ValidationError extends Error {
    override name = 'ValidationError';
    constructor(readonly field: string) {
      super(`invalid ${field}`);
    }
  }
  const plain = deserializeError(serializeError(new ValidationError('age')));
  t.equal(plain.name, 'ValidationError');
  t.equal((plain as unknown as { field: string }).field, 'age');
  t.notOk(plain instanceof ValidationError, 'unknown on the receiving side: a plain Error');
  registerErrorClass(ValidationError);
  const registered = deserializeError(serializeError(new ValidationError('name')));
  t.ok(registered instanceof ValidationError);
  t.equal((registered as ValidationError).field, 'name');
});

t.test('thrown non-Errors become Errors', async (t) => {
  const fromString = deserializeError(acrossTheWire(serializeError('boom')));
  t.ok(fromString instanceof Error);
  t.equal(fromString.message, 'boom');
  t.same((fromString as unknown as { value: unknown }).value, 'boom');
  t.equal((fromString as unknown as { thrown: string }).thrown, 'string');
  t.equal(deserializeError(serializeError(42)).message, '42');
  t.equal(deserializeError(serializeError(undefined)).message, 'undefined');
  t.equal(deserializeError(serializeError(null)).message, 'null');
  const objectLike = deserializeError(acrossTheWire(serializeError({ message: 'shaped like an error', code: 7 })));
  t.equal(objectLike.message, 'shaped like an error');
  t.same((objectLike as unknown as { value: unknown }).value, { message: 'shaped like an error', code: 7 });
  const withFunction = serializeError({ run: () => 1 });
  t.equal(withFunction.props?.value, '[unserializable Object]', 'a value that cannot travel is described instead');
});

t.test('props that cannot travel are described, the error still serializes', async (t) => {
  const error = Object.assign(new Error('with junk'), { callback: () => 1, socket: Promise.resolve(), fine: [1, 2] });
  const serialized = acrossTheWire(serializeError(error));
  t.same(serialized.props, { callback: '[unserializable function]', socket: '[unserializable Promise]', fine: [1, 2] });
});

t.test('cyclic and deep cause chains terminate', async (t) => {
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  const serialized = serializeError(a);
  t.equal(serialized.cause?.message, 'b');
  t.equal(serialized.cause?.cause, undefined, 'cycle cut');
  let deep: Error = new Error('0');
  for (let i = 1; i < 100; i++) deep = new Error(String(i), { cause: deep });
  let depth = 0;
  for (let s: SerializedError | undefined = serializeError(deep); s !== undefined; s = s.cause) depth++;
  t.ok(depth <= 17, `cause chain cut at ${depth}`);
  t.ok(deserializeError(serializeError(deep)) instanceof Error);
});

t.test('errors whose getters throw still serialize', async (t) => {
  const hostile = new Error('hostile');
  Object.defineProperty(hostile, 'message', { get() { throw new Error('no'); } });
  Object.defineProperty(hostile, 'trap', { enumerable: true, get() { throw new Error('no'); } });
  const serialized = serializeError(hostile);
  t.equal(serialized.name, 'Error');
  t.equal(serialized.message, '');
});

t.test('deserializeError tolerates malformed records', async (t) => {
  const odd = deserializeError({ name: 5, message: undefined, props: 'nope', cause: null } as unknown as SerializedError);
  t.ok(odd instanceof Error);
  t.equal(odd.name, 'Error');
  t.equal(odd.message, '');
  const polluted = deserializeError({ name: 'Error', message: 'x', props: JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') });
  t.equal((polluted as unknown as { ok: number }).ok, 1);
  t.equal(({} as { polluted?: boolean }).polluted, undefined, 'no prototype pollution');
  t.ok(deserializeError({ name: 'SerializationError', message: 'm' }) instanceof SerializationError);
});
