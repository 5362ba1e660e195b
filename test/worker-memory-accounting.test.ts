/**
 * What counts against a worker's memory limit (lib/worker/process-memory.ts),
 * the pool threads' large garbage (lib/worker/thread-garbage.ts), and the
 * environment a nanny gives its worker process.
 */
import t from 'tap';
import { countedMemory, ProcessMemory } from '../dist/lib/worker/process-memory.js';
import { LargeGarbageMeter, THREAD_GC_BYTES } from '../dist/lib/worker/thread-garbage.js';
import { executeTasks, valueBytes, type TaskToRun } from '../dist/lib/worker/execute.js';
import { encodeValue } from '../dist/lib/protocol/values.js';
import { workerEnv } from '../dist/actors/nanny.js';

const MB = 1_000_000;

t.test('process memory is the RSS beyond the baseline measured at start, never negative', async (t) => {
  t.equal(countedMemory(300 * MB, 100 * MB), 200 * MB);
  t.equal(countedMemory(90 * MB, 100 * MB), 0);
  let rss = 100 * MB;
  const memory = new ProcessMemory(() => rss);
  t.equal(memory.baseline, 100 * MB);
  rss = 130 * MB;
  t.equal(memory.counted(), 30 * MB);
  t.equal(memory.rss(), 130 * MB);
  memory.rebase();
  t.equal(memory.baseline, 130 * MB, 'measured again once the threads are up');
  rss = 110 * MB;
  memory.rebase();
  t.equal(memory.baseline, 130 * MB, 'a lower reading never lowers the baseline');
  t.equal(memory.counted(), 0);
  rss = 600 * MB;
  memory.rebase(64 * MB);
  t.equal(memory.baseline, 194 * MB, 'a rise beyond what idle threads take is work, still counted');
  t.equal(memory.counted(), 406 * MB);
  const real = new ProcessMemory();
  t.ok(real.baseline > 0 && real.rss() > 0, 'the default reads this process');
});

t.test('a thread collects after handling THREAD_GC_BYTES of values', async (t) => {
  const meter = new LargeGarbageMeter(10);
  t.notOk(meter.handled(4));
  t.notOk(meter.handled(5));
  t.ok(meter.handled(1), 'the threshold reached');
  t.notOk(meter.handled(9), 'counting starts again');
  t.ok(new LargeGarbageMeter().threshold === THREAD_GC_BYTES);
});

t.test('valueBytes counts the dependencies a batch read and the results it made', async (t) => {
  const dep = encodeValue(new Uint8Array(1000));
  const batch: TaskToRun[] = [
    { key: 'a', runSpec: { fn: { kind: 'source', source: '(x) => x.length' }, args: encodeValue([1]) } as never, deps: { d: dep } },
    { key: 'b', runSpec: { fn: { kind: 'source', source: '() => { throw new Error("no") }' }, args: encodeValue([]) } as never, deps: {} },
  ];
  const outcomes = await executeTasks(batch);
  t.equal(outcomes[0]!.ok, true);
  t.equal(outcomes[1]!.ok, false);
  const result = outcomes[0]!.ok ? outcomes[0]!.value.byteLength : 0;
  t.equal(valueBytes(batch, outcomes), dep.byteLength + result, 'failures add nothing');
});

t.test("a nanny's worker gets MALLOC_TRIM_THRESHOLD_ unless it was set", async (t) => {
  t.equal(workerEnv({ PATH: '/bin' }).MALLOC_TRIM_THRESHOLD_, '65536');
  t.equal(workerEnv({ PATH: '/bin' }).PATH, '/bin');
  t.equal(workerEnv({ MALLOC_TRIM_THRESHOLD_: '0' }).MALLOC_TRIM_THRESHOLD_, '0', "the caller's choice stands");
});
