import t from 'tap';
import { executeTasks, executeTask } from '../dist/lib/worker/execute.js';
import runBatch from '../dist/actors/worker-thread.js';
import { toFunctionRef, remote } from '../dist/lib/task-function.js';
import { encodeValue, decodeValue, DependencyRef } from '../dist/lib/protocol/values.js';
import { deserializeError } from '../dist/lib/protocol/errors.js';
import { Piscina } from 'piscina';

const fixtureUrl = new URL('./fixtures/remote-functions.mjs', import.meta.url).href;

function spec(fn: Function, args: unknown[]) {
  return { fn: toFunctionRef(fn), args: encodeValue(args) };
}

t.test('success: result encoded with type, nbytes and duration', async (t) => {
  const [outcome] = await executeTasks([{ key: 'add-1', runSpec: spec((a: number, b: number) => a + b, [2, 3]), deps: {} }]);
  t.equal(outcome!.ok, true);
  if (!outcome!.ok) return;
  t.equal(outcome!.key, 'add-1');
  t.equal(decodeValue(outcome!.value), 5);
  t.equal(outcome!.type, 'number');
  t.equal(outcome!.nbytes, outcome!.value.byteLength);
  t.ok(outcome!.duration >= 0);
});

t.test('async results are awaited; remote functions load by URL', async (t) => {
  const outcomes = await executeTasks([
    { key: 'a', runSpec: spec(async (x: number) => x * 10, [4]), deps: {} },
    { key: 'b', runSpec: { fn: toFunctionRef(remote(fixtureUrl, 'delayedSquare')), args: encodeValue([3]) }, deps: {} },
  ]);
  t.same(outcomes.map((o) => o.ok && decodeValue(o.value)), [40, 9]);
  t.same(outcomes.map((o) => o.key), ['a', 'b']);
});

t.test('dependencies are decoded and substituted, nested too', async (t) => {
  const args = [new DependencyRef('x-1'), { nested: [new DependencyRef('y-2')] }];
  const outcome = await executeTask({
    key: 'sum-3',
    runSpec: spec((x: number[], o: { nested: Map<string, number>[] }) => x.length + o.nested[0]!.get('k')!, args),
    deps: { 'x-1': encodeValue([1, 2, 3]), 'y-2': encodeValue(new Map([['k', 100]])) },
  });
  t.equal(outcome.ok && decodeValue(outcome.value), 103);
});

t.test('a large binary dependency reaches the task without a copy', async (t) => {
  const stored = encodeValue(new Uint8Array(1_000_000).fill(7));
  const outcome = await executeTask({
    key: 'sum-4',
    runSpec: spec((data: Uint8Array) => data.byteLength + data[999_999]! + (data.buffer.byteLength === data.byteLength ? 0 : 1_000_000_000), [new DependencyRef('big-1')]),
    deps: { 'big-1': stored },
  });
  t.equal(outcome.ok && decodeValue(outcome.value), 1_000_007 + 1_000_000_000, 'the task saw the right bytes, as a view of the stored blob');
});

t.test('a thrown custom error keeps name, message, stack and props', async (t) => {
  const thrower = () => {
    class QuotaError extends Error {
      override name = 'QuotaError';
      code = 'E_QUOTA';
      limit = 5;
    }
    throw new QuotaError('over quota');
  };
  const outcome = await executeTask({ key: 'q-1', runSpec: spec(thrower, []), deps: {} });
  t.equal(outcome.ok, false);
  if (outcome.ok) return;
  t.equal(outcome.error.name, 'QuotaError');
  t.equal(outcome.error.message, 'over quota');
  t.match(outcome.error.stack, /QuotaError: over quota/);
  t.same(outcome.error.props, { code: 'E_QUOTA', limit: 5 });
  const rebuilt = deserializeError(outcome.error) as Error & { code?: string };
  t.equal(rebuilt.name, 'QuotaError');
  t.equal(rebuilt.code, 'E_QUOTA');
});

t.test('a rejected promise and a thrown string are errors too', async (t) => {
  const [rejected, thrownString] = await executeTasks([
    { key: 'r', runSpec: spec(async () => { throw new RangeError('too far'); }, []), deps: {} },
    { key: 's', runSpec: spec(() => { throw 'plain string'; }, []), deps: {} },
  ]);
  t.equal(!rejected!.ok && rejected!.error.name, 'RangeError');
  t.equal(!thrownString!.ok && thrownString!.error.message, 'plain string');
});

t.test('an unencodable result is an error naming the key and the type', async (t) => {
  const outcome = await executeTask({ key: 'fn-result-1', runSpec: spec(() => new WeakMap(), []), deps: {} });
  t.equal(outcome.ok, false);
  if (outcome.ok) return;
  t.equal(outcome.error.name, 'SerializationError');
  t.match(outcome.error.message, /task fn-result-1 returned a value of type WeakMap that cannot be encoded/);
  const fnResult = await executeTask({ key: 'fn-result-2', runSpec: spec(() => () => 1, []), deps: {} });
  t.match(!fnResult.ok && fnResult.error.message, /fn-result-2 returned a value of type function/);
});

t.test('bad arguments and missing dependencies fail the task, not the batch', async (t) => {
  const outcomes = await executeTasks([
    { key: 'bad-args', runSpec: { fn: toFunctionRef(() => 1), args: encodeValue('not an array') }, deps: {} },
    { key: 'missing-dep', runSpec: spec((x: number) => x, [new DependencyRef('gone')]), deps: {} },
    { key: 'fine', runSpec: spec(() => 'ok', []), deps: {} },
  ]);
  t.match(!outcomes[0]!.ok && outcomes[0]!.error.message, /arguments must encode an array/);
  t.equal(outcomes[1]!.ok, false);
  t.equal(outcomes[2]!.ok && decodeValue(outcomes[2]!.value), 'ok');
});

t.test('thread entry marks large result buffers for transfer', async (t) => {
  const batch = [
    { key: 'a', runSpec: spec(() => 'x'.repeat(100_000), []), deps: {} },
    { key: 'b', runSpec: spec(() => { throw new Error('no'); }, []), deps: {} },
  ];
  const result = (await runBatch(batch)) as Record<symbol, unknown>;
  const buffers = result[Piscina.transferableSymbol] as ArrayBuffer[];
  const outcomes = result[Piscina.valueSymbol] as Array<{ ok: boolean; value?: Uint8Array }>;
  t.equal(buffers.length, 1);
  t.equal(buffers[0], outcomes[0]!.value!.buffer);
  t.equal(outcomes[1]!.ok, false);
  const onlyErrors = await runBatch([batch[1]!]);
  t.ok(Array.isArray(onlyErrors), 'nothing to transfer: plain outcomes');
  const smallOnly = await runBatch([{ key: 'c', runSpec: spec(() => 'small', []), deps: {} }]);
  t.ok(Array.isArray(smallOnly), 'small results are cloned: plain outcomes');
});
