import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomToken, tokenize } from '../dist/lib/client/keys.js';
import { buildTask } from '../dist/lib/client/task-spec.js';
import { taskKeyOf } from '../dist/lib/client/arguments.js';
import { DependencyRef, decodeValue } from '../dist/lib/protocol/values.js';
import { SerializationError } from '../dist/lib/errors.js';
import { remote } from '../dist/lib/task-function.js';

// Functions made from fixed source text: the test loader may rewrite this file's own functions.
const inc = new Function('return function inc(x) { return x + 1; }')() as (x: number) => number;
const anonymous = new Function('return [(x) => x * 2][0]')() as (x: number) => number;

const keyPattern = (name: string) => new RegExp(`^${name}-[0-9a-f]{32}$`);

t.test('pure keys are <name>-<32 hex>, equal for equal calls, different otherwise', async (t) => {
  const a = buildTask(inc, [1]).task.key;
  t.match(a, keyPattern('inc'));
  t.equal(buildTask(inc, [1]).task.key, a, 'same call, same key');
  t.not(buildTask(inc, [2]).task.key, a, 'other argument, other key');
  t.match(buildTask(anonymous, [1]).task.key, keyPattern('lambda'), 'an anonymous function is a lambda');
  t.match(buildTask(Math.max, [1, 2]).task.key, keyPattern('max'), 'natives travel by global path');
  t.match(buildTask(remote('file:///x.js', 'work'), [1]).task.key, keyPattern('work'));
});

t.test('impure keys and explicit keys', async (t) => {
  const a = buildTask(inc, [1], { pure: false }).task.key;
  const b = buildTask(inc, [1], { pure: false }).task.key;
  t.match(a, keyPattern('inc'));
  t.not(a, b, 'two impure calls never share a key');
  t.equal(buildTask(inc, [1], { key: 'my-key' }).task.key, 'my-key');
  t.match(buildTask(inc, [1], { name: 'prefix' }).task.key, keyPattern('prefix'));
  t.match(randomToken(), /^[0-9a-f]{32}$/);
});

t.test('tokenize separates its parts', async (t) => {
  t.not(tokenize('ab', 'c'), tokenize('a', 'bc'));
  t.equal(tokenize('a', new Uint8Array([1, 2])), tokenize('a', new Uint8Array([1, 2])));
  t.match(tokenize('x'), /^[0-9a-f]{32}$/);
});

t.test('the same call gives the same key in another process', async (t) => {
  const args = [1, 'two', { three: [3, 4n], four: new Map([['k', 5]]) }, new Uint8Array([6, 7])];
  const here = buildTask(inc, args).task.key;
  const taskSpec = new URL('../dist/lib/client/task-spec.js', import.meta.url).href;
  const script = `
    const { buildTask } = await import(${JSON.stringify(taskSpec)});
    const inc = new Function('return function inc(x) { return x + 1; }')();
    const args = [1, 'two', { three: [3, 4n], four: new Map([['k', 5]]) }, new Uint8Array([6, 7])];
    process.stdout.write(buildTask(inc, args).task.key);
  `;
  const there = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
  });
  t.equal(there, here);
});

t.test('references become DependencyRefs and dependencies', async (t) => {
  const ref = { [taskKeyOf]: 'inc-00000000000000000000000000000000' };
  const { task, references } = buildTask(inc, [ref, [ref, { nested: ref }]]);
  t.same(task.dependencies, ['inc-00000000000000000000000000000000'], 'listed once');
  t.equal(references.get('inc-00000000000000000000000000000000'), ref);
  const decoded = decodeValue<unknown[]>(task.runSpec!.args);
  t.ok(decoded[0] instanceof DependencyRef);
  const withValues = decodeValue<unknown[]>(task.runSpec!.args, new Map([['inc-00000000000000000000000000000000', 41]]));
  t.same(withValues, [41, [41, { nested: 41 }]]);
  const other = buildTask(inc, [{ [taskKeyOf]: 'inc-11111111111111111111111111111111' }]).task.key;
  t.not(buildTask(inc, [ref]).task.key, other, 'the key depends on the dependency key');
});

t.test('settings land on the task; defaults stay off the wire', async (t) => {
  const plain = buildTask(inc, [1]).task;
  t.notOk('restrictions' in plain);
  t.notOk('retries' in plain);
  t.notOk('priority' in plain);
  const full = buildTask(inc, [1], {
    restrictions: { workers: ['w1'], allowOtherWorkers: true },
    retries: 2,
    priority: 5,
  }).task;
  t.same(full.restrictions, { workers: ['w1'], allowOtherWorkers: true });
  t.equal(full.retries, 2);
  t.equal(full.priority, 5);
  t.equal(buildTask(inc, [1]).task.key, buildTask(inc, [1], { retries: 3, priority: 1 }).task.key, 'settings are not part of the key');
  const actor = buildTask(inc, [1], { actor: true }).task;
  t.equal(actor.runSpec!.actor, true);
  t.not(actor.key, buildTask(inc, [1], { actor: true }).task.key, 'actors always get fresh keys');
});

t.test('unserializable arguments and unshippable functions are refused with clear errors', async (t) => {
  t.throws(() => buildTask(inc, [() => 1]), SerializationError);
  t.throws(() => buildTask(inc, [1, { f: () => 1 }]), /arguments of inc: .*\[1\]\.f \(function\)/);
  t.throws(() => buildTask(inc, [Symbol('s')]), SerializationError);
  t.throws(() => buildTask(inc.bind(null), [1]), /bound function.*remote\(import\.meta\.url/);
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  t.throws(() => buildTask(inc, [cyclic]), /circular structure: args\[0\]/);
});
