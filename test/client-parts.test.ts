import t from 'tap';
import { Writable } from 'node:stream';
import { ClientOutbox } from '../dist/lib/client/client-outbox.js';
import { FutureState } from '../dist/lib/client/future-state.js';
import { progress, renderProgressBar } from '../dist/lib/client/progress.js';
import { mergeTaskOptions, restrictionsOf } from '../dist/lib/client/task-options.js';
import { CancelledError } from '../dist/lib/errors.js';
import type { GraphTask, OpDict } from '../dist/lib/protocol/messages.js';

const task = (key: string): GraphTask => ({ key, dependencies: [] });

t.test('the outbox merges what one tick queues, keeping order between kinds', async (t) => {
  const sent: OpDict[] = [];
  const outbox = new ClientOutbox((msg) => sent.push(msg));
  outbox.updateGraph('c', [task('a')], ['a']);
  outbox.updateGraph('c', [task('b')], ['b']);
  outbox.keys('client-releases-keys', 'c', ['a']);
  outbox.keys('client-releases-keys', 'c', ['b']);
  outbox.keys('client-desires-keys', 'fire-and-forget', ['x']);
  outbox.keys('client-desires-keys', 'c', ['y']);
  outbox.updateGraph('c', [task('a')], ['a']);
  t.equal(sent.length, 0, 'nothing goes out synchronously');
  await Promise.resolve();
  t.same(sent.map((msg) => msg.op), ['update-graph', 'client-releases-keys', 'client-desires-keys', 'client-desires-keys', 'update-graph']);
  t.same((sent[0]!.tasks as GraphTask[]).map((x) => x.key), ['a', 'b']);
  t.same(sent[0]!.keys, ['a', 'b']);
  t.same(sent[1]!.keys, ['a', 'b']);
  t.equal(sent[2]!.client, 'fire-and-forget');
  t.equal(sent[3]!.client, 'c', 'different clients are not merged');

  sent.length = 0;
  outbox.updateGraph('c', [task('z')], ['z']);
  outbox.flush();
  t.equal(sent.length, 1, 'flush sends at once');
  await Promise.resolve();
  t.equal(sent.length, 1, 'and nothing twice');
  outbox.keys('client-releases-keys', 'c', []);
  t.equal(outbox.pending, 0, 'empty key lists are not queued');
  outbox.message({ op: 'close-client', client: 'c' });
  outbox.discard();
  await Promise.resolve();
  t.equal(sent.length, 1, 'discarded messages never go out');
});

t.test('future records follow the future machine and wake their listeners once', async (t) => {
  const state = new FutureState('k');
  const woken: string[] = [];
  state.onSettled((s) => woken.push(s.status));
  t.equal(state.status, 'pending');
  t.notOk(state.done);
  t.ok(state.finish('number', 8));
  t.equal(state.type, 'number');
  t.same(woken, ['finished']);
  t.notOk(state.finish('number', 8), 'a repeated report changes nothing');
  t.ok(state.moveTo('lost'));
  state.setValue(1);
  state.onSettled((s) => woken.push(`again ${s.status}`));
  t.ok(state.fail({ name: 'RangeError', message: 'bad', stack: 'RangeError: bad\n    at remote (worker.js:1:1)' }));
  t.same(woken, ['finished', 'again error']);
  const error = state.error();
  t.equal(error.name, 'RangeError');
  t.equal(error.message, 'bad');
  t.match(error.stack, /at remote \(worker\.js/);
  t.equal(state.error(), error, 'one instance per failure');
  t.ok(state.moveTo('pending'), 'retry');
  t.equal(state.exception, undefined);
  t.ok(state.cancel('because'));
  t.ok(state.error() instanceof CancelledError);
  t.match(state.error().message, /because/);
  t.notOk(state.finish('number', 1), 'cancelled is final');
  t.notOk(state.moveTo('pending'));

  const waiting = new FutureState('w');
  let closedWith: Error | undefined;
  const off = waiting.onSettled((s) => (closedWith = s.closedError));
  const never = waiting.onSettled(() => t.fail('unsubscribed listener ran'));
  never();
  waiting.close(new Error('gone'));
  t.equal(closedWith?.message, 'gone');
  t.ok(waiting.settled);
  off();
});

t.test('a future record keeps one value at a time: decoded, encoded, or none', async (t) => {
  const { encodeValue } = await import('../dist/lib/protocol/values.js');
  const state = new FutureState('v');
  t.equal(state.hasRecipe, true, 'computed keys have a recipe');
  t.same([state.hasValue, state.value, state.blob], [false, undefined, undefined]);

  state.holdInline(encodeValue(41));
  t.same([state.hasValue, state.value, state.blob], [true, 41, undefined], 'a tiny primitive is decoded on arrival');

  const big = encodeValue({ a: [1, 2, 3] });
  state.holdInline(big);
  t.equal(state.hasValue, false, 'an encoded value replaces the decoded one');
  t.equal(state.value, undefined);
  t.equal(state.blob, big, 'kept encoded until first used');
  state.setValue({ a: [1, 2, 3] });
  t.same([state.hasValue, state.blob], [true, undefined]);
  t.same(state.value, { a: [1, 2, 3] });

  state.setValue(undefined);
  t.same([state.hasValue, state.value], [true, undefined], 'undefined is a value too');
  state.dropValue();
  t.same([state.hasValue, state.value, state.blob], [false, undefined, undefined]);

  state.holdInline(big);
  t.ok(state.finish('Object', big.byteLength));
  t.ok(state.moveTo('lost'));
  t.same([state.hasValue, state.blob], [false, undefined], 'a lost key forgets its value');

  state.hasRecipe = false;
  t.equal(state.hasRecipe, false);
  state.hasRecipe = true;
  t.equal(state.hasRecipe, true);

  t.same([state.exception, state.cancelReason, state.closedError], [undefined, undefined, undefined], 'nothing rare until something fails');
  state.close(new Error('closed'));
  t.equal(state.closedError?.message, 'closed');
  state.reopen();
  t.equal(state.closedError, undefined, 'reopened');
  const failing = new FutureState('f');
  t.ok(failing.fail({ name: 'Error', message: 'boom', stack: 'Error: boom' }));
  t.equal(failing.exception?.message, 'boom');
  t.ok(failing.moveTo('pending'), 'retried');
  t.equal(failing.exception, undefined, 'the old error is forgotten');
  t.ok(failing.cancel('enough'));
  t.equal(failing.cancelReason, 'enough');
});

t.test('the progress bar', async (t) => {
  t.equal(renderProgressBar({ finished: 4, erred: 0, total: 10 }, 1234, 10), '[####      ] | 40% Completed | 4/10 | 1.2s');
  t.equal(renderProgressBar({ finished: 10, erred: 0, total: 10 }, 500, 10), '[##########] | 100% Completed | 10/10 | 0.5s');
  t.equal(renderProgressBar({ finished: 0, erred: 0, total: 0 }, 0, 4), '[####] | 100% Completed | 0/0 | 0.0s');
  t.equal(renderProgressBar({ finished: 1, erred: 0, total: 3 }, 125_000, 3), '[#  ] | 33% Completed | 1/3 | 2min 05s');
  t.equal(renderProgressBar({ finished: 4, erred: 2, total: 10 }, 1234, 10), '[####!!    ] | 60% Completed | 4/10 | 2 erred | 1.2s');
  t.equal(
    renderProgressBar({ finished: 1, erred: 1, total: 2 }, 0, 2, true),
    '[#\x1b[31m!\x1b[0m] | 100% Completed | 1/2 | \x1b[31m1 erred\x1b[0m | 0.0s',
    'erred in red on a terminal',
  );
});

t.test('progress over finished futures prints one final line', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  await progress([], { stream, width: 8 });
  t.same(lines, ['[########] | 100% Completed | 0/0 | 0.0s\n']);
});

t.test('task options are checked and merged', async (t) => {
  t.throws(() => mergeTaskOptions({}, { allowOtherWorkers: true }), TypeError);
  t.throws(() => mergeTaskOptions({}, { retries: -1 }), /retries/);
  t.throws(() => mergeTaskOptions({}, { priority: Number.NaN }), /priority/);
  t.throws(() => mergeTaskOptions({}, { resources: { GPU: 0 } }), /GPU/);
  t.throws(() => mergeTaskOptions({}, { workers: [] }), /workers/);
  t.throws(() => mergeTaskOptions({}, { bogus: 1 } as never), /unknown option "bogus"/);
  const merged = mergeTaskOptions(mergeTaskOptions({}, { workers: 'w1' }), { allowOtherWorkers: true, retries: 2 });
  t.same(merged, { workers: 'w1', allowOtherWorkers: true, retries: 2 });
  t.same(restrictionsOf(merged), { workers: ['w1'], allowOtherWorkers: true });
  t.same(restrictionsOf({ resources: { GPU: 1 } }), { resources: { GPU: 1 } });
  t.equal(restrictionsOf({ retries: 1 }), undefined);
});
