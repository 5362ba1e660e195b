import t from 'tap';
import { isTaskReference, replaceReferences, taskKeyOf } from '../dist/lib/client/arguments.js';
import { DependencyRef } from '../dist/lib/protocol/values.js';

const ref = (key: string) => ({ [taskKeyOf]: key });

t.test('values without references come back untouched (no copies)', async (t) => {
  const args = [1, 'a', { b: [2, 3] }, new Map([['m', 1]]), new Set([1]), new Uint8Array(4)];
  const { value, references } = replaceReferences(args);
  t.equal(value, args, 'same array');
  t.equal(references.size, 0);
});

t.test('references anywhere in arrays, plain objects, Maps and Sets are replaced', async (t) => {
  const a = ref('a-1');
  const b = ref('b-2');
  const inner = { keep: 1, a };
  const args = [a, [1, [b]], inner, new Map([['x', b]]), new Set([a])];
  const { value, references } = replaceReferences(args);
  t.same([...references.keys()], ['a-1', 'b-2'], 'each key once, in order');
  const [first, nested, object, map, set] = value as [unknown, unknown[], Record<string, unknown>, Map<string, unknown>, Set<unknown>];
  t.ok(first instanceof DependencyRef && first.key === 'a-1');
  t.ok((nested[1] as unknown[])[0] instanceof DependencyRef);
  t.equal(nested[0], 1);
  t.equal(object.keep, 1);
  t.ok(object.a instanceof DependencyRef);
  t.not(object, inner, 'a container with a reference is copied');
  t.equal(inner.a, a, 'the original is not modified');
  t.ok(map.get('x') instanceof DependencyRef);
  t.ok([...set][0] instanceof DependencyRef);
});

t.test('class instances are opaque: references inside are not looked for', async (t) => {
  class Box {
    constructor(readonly inside: unknown) {}
  }
  const box = new Box(ref('c-3'));
  const { value, references } = replaceReferences([box]);
  t.equal((value as unknown[])[0], box);
  t.equal(references.size, 0);
  t.ok(isTaskReference(ref('x')));
  t.notOk(isTaskReference({ key: 'x' }));
  t.notOk(isTaskReference(null));
});

t.test('circular structures are refused with the path', async (t) => {
  const loop: Record<string, unknown> = { a: { b: {} } };
  (loop.a as Record<string, Record<string, unknown>>).b.back = loop;
  t.throws(() => replaceReferences([loop], undefined, 'args'), /circular structure: args\[0\]\.a\.b\.back contains itself/);
  const shared = { x: 1 };
  t.doesNotThrow(() => replaceReferences([shared, shared, [shared]]), 'a value used twice is not a cycle');
});
