// What a new user's functions and arguments meet on the way to a worker.
import t from 'tap';
import { Client } from '../dist/index.js';

t.test('reading a variable of the surrounding scope fails with a hint', async (t) => {
  const client = await Client.connect();
  t.teardown(() => client.close());
  const factor = 3;
  const scale = (x: number) => x * factor;
  const error = await client.submit(scale, 2).result().then(() => undefined, (e: unknown) => e);
  t.type(error, ReferenceError);
  t.match(String((error as Error).message), /^factor is not defined \(the task function travels to the worker as its source text/);
  t.match(String((error as Error).message), /pass factor as an argument/);
  t.match(String((error as Error).message), /remote\(import\.meta\.url/);
  // A ReferenceError the task throws itself about something else is left alone.
  const own = await client.submit(() => {
    throw new ReferenceError('custom words');
  }).result().then(() => undefined, (e: unknown) => e);
  t.equal((own as Error).message, 'custom words');
});

t.test('a class instance with methods is refused at submit and scatter, saying how to send it', async (t) => {
  const client = await Client.connect();
  t.teardown(() => client.close());
  class Point {
    constructor(readonly x: number, readonly y: number) {}
    norm(): number {
      return Math.hypot(this.x, this.y);
    }
  }
  const p = new Point(3, 4);
  const norm = (point: Point) => point.norm();
  t.throws(() => client.submit(norm, p), { name: 'SerializationError', message: /args\[0\]: it is an instance of class Point/ });
  t.throws(() => client.submit(norm, p), /actor: true/, 'names the actor way');
  t.throws(() => client.map(norm, [[p]] as never), /instance of class Point/);
  t.throws(() => client.submit((o: { nested: Point[] }) => o, { nested: [p] }), /args\[0\]\.nested\[0\]/);
  await t.rejects(client.scatter([p]), /instance of class Point/);
  // Plain data, binaries, Dates and method-less records still travel.
  class Record2 {
    constructor(readonly a: number) {}
  }
  const ok = client.submit((d: Date, b: Uint8Array, r: { a: number }) => [d.getTime(), b.length, r.a], new Date(5), new Uint8Array(3), new Record2(7));
  t.same(await ok.result(), [5, 3, 7]);
  // And the way the error suggests works: the instance as an actor.
  const actor = await client.with({ actor: true }).submit(Point, 3, 4).result();
  t.equal(await (actor as unknown as { norm(): Promise<number> }).norm(), 5);
});
