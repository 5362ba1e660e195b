// progress() tells erred tasks apart from finished ones and shows n/N.
import { Writable } from 'node:stream';
import t from 'tap';
import { Client, progress } from '../dist/index.js';

t.test('erred tasks are counted apart, with n/N', async (t) => {
  const client = await Client.connect();
  t.teardown(() => client.close());
  const check = (x: number) => {
    if (x % 2 === 1) throw new Error(`odd ${x}`);
    return x;
  };
  const futures = client.map(check, [0, 1, 2, 3, 4]);
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  await progress(futures, { stream, width: 10 });
  const last = lines[lines.length - 1]!;
  t.match(last, /^\[######!!!!\] \| 100% Completed \| 3\/5 \| 2 erred \| \d+\.\ds\n$/, last);
  t.notOk(last.includes('\x1b['), 'no colour codes off a terminal');
});
