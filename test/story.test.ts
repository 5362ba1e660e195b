// story(key): the bounded stimulus and transition logs of SchedulerState and
// WorkerState, and client.story(key) over real clusters (in-process and
// worker processes).
import t from 'tap';
import { Client, LocalCluster, type StoryRecord } from '../dist/index.js';
import { StimulusLog, storyOf } from '../dist/machines/stimulus-log.js';
import { TransitionLog } from '../dist/machines/transition-log.js';
import { WorkerState } from '../dist/lib/worker/worker-state.js';
import { toFunctionRef } from '../dist/lib/task-function.js';
import { encodeValue } from '../dist/lib/protocol/values.js';
import { addWorker, harness, task } from './fixtures/scheduler-harness.js';

const line = (r: StoryRecord): string => (r.stimulus !== undefined ? `${r.stimulus}@${r.stimulusId}` : `${r.start}->${r.finish}@${r.stimulusId}`);

t.test('SchedulerState.story: the stimuli that named a key, each followed by the transitions it caused', async (t) => {
  const { s, clock } = harness();
  addWorker(s, 'inproc://w1');
  s.updateGraph('c1', [task('a'), task('b', ['a'])], ['b'], 'graph-1');
  clock.t = 1500;
  const runId = s.tasks.get('a')!.runId;
  s.taskFinished('inproc://w1', { key: 'a', runId, nbytes: 8, type: 'number', duration: 1 }, 'done-a');
  t.same(s.story('b').map(line), ['update-graph@graph-1', 'released->waiting@graph-1', 'waiting->processing@done-a']);
  t.same(s.story('a').map(line), [
    'released->waiting@graph-1',
    'waiting->processing@graph-1',
    'task-finished@done-a',
    'processing->memory@done-a',
  ]);
  const finished = s.story('a').find((r) => r.stimulus === 'task-finished')!;
  t.match(finished, { key: 'a', where: 'scheduler', stimulusId: 'done-a', ts: 1500 }, 'an injected clock is used as is');
  t.same(s.story('nobody'), [], 'an unknown key has no story');
});

t.test('the logs are bounded: old stimuli and transitions go first', async (t) => {
  const { s } = harness({ transitionLogSize: 4, stimulusLogSize: 2 });
  addWorker(s, 'inproc://w1');
  for (let i = 0; i < 5; i++) s.updateGraph('c1', [task(`k-${i}`)], [`k-${i}`], `g-${i}`);
  t.equal(s.stimulusLog.size, 2);
  t.equal(s.stimulusLog.total, 6);
  t.same(s.story('k-0'), [], 'the first task is forgotten by both logs');
  t.same(s.story('k-4').map(line), ['update-graph@g-4', 'released->waiting@g-4', 'waiting->queued@g-4'], 'the one worker is busy: queued');
  t.throws(() => new StimulusLog(0), RangeError);
});

t.test('storyOf merges by sequence: a stimulus goes before the transitions logged after it, even with equal clocks', async (t) => {
  const stimuli = new StimulusLog(3);
  const transitions = new TransitionLog<string>(3);
  stimuli.record('first', 's1', 'x', 5, transitions.total);
  transitions.record('x', 'a', 'b', 's1', 5);
  stimuli.record('second', 's2', ['y', 'x'], 5, transitions.total);
  transitions.record('x', 'b', 'c', 's2', 5);
  transitions.record('y', 'a', 'b', 's2', 5);
  stimuli.record('third', 's3', undefined, 6, transitions.total);
  t.same(storyOf('x', stimuli, transitions, 'here', 100).map(line), ['first@s1', 'a->b@s1', 'second@s2', 'b->c@s2']);
  t.same(storyOf('y', stimuli, transitions, 'here', 100).map((r) => [line(r), r.ts, r.where]), [['second@s2', 105, 'here'], ['a->b@s2', 105, 'here']]);
});

t.test('WorkerState.story: compute-task, execution and release, with the transitions each caused', async (t) => {
  const state = new WorkerState({ address: 'inproc://self', nthreads: 1 });
  const runSpec = { fn: toFunctionRef((x: number) => x), args: encodeValue([1]) };
  const out = state.handle({ op: 'compute-task', key: 'a', runId: 1, runSpec, whoHas: {}, nbytes: {}, priority: [0], stimulusId: 'c-a' });
  const batch = out.find((i) => i.kind === 'execute');
  t.ok(batch !== undefined && batch.kind === 'execute', 'the task starts');
  const batchId = batch !== undefined && batch.kind === 'execute' ? batch.batchId : -1;
  state.handle({ op: 'execute-success', key: 'a', batchId, value: encodeValue(1), type: 'number', nbytes: 1, duration: 1 });
  state.handle({ op: 'free-keys', keys: ['a'], stimulusId: 'free-a' });
  t.same(state.story('a').map(line), [
    'compute-task@c-a',
    'released->waiting@c-a',
    'waiting->ready@c-a',
    'ready->executing@c-a',
    'execute-success@execute-success',
    'executing->memory@execute-success',
    'free-keys@free-a',
    'memory->released@free-a',
    'released->forgotten@free-a',
  ]);
  t.ok(state.story('a').every((r) => r.where === 'inproc://self' && r.ts > 1e12), 'the default clock gives wall-clock ms');
  t.equal(state.tasks.has('a'), false, 'the record is gone, its story stays');
});

async function clusterStory(t: Tap.Test, processes: boolean): Promise<void> {
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, processes, dashboardAddress: false });
  t.teardown(() => cluster.close());
  const client = await Client.connect(cluster);
  t.teardown(() => client.close());
  const [a, b] = cluster.workerAddresses as [string, string];
  const x = client.with({ workers: [a], allowOtherWorkers: false }).submit((n: number) => n + 1, 1);
  const y = client.with({ workers: [b], allowOtherWorkers: false }).submit((n: number) => n * 10, x);
  t.equal(await y.result(), 20);

  const story = await client.story(y);
  t.ok(story.every((r) => r.key === y.key), 'every record is about the key');
  t.same(
    story.filter((r) => r.where === 'scheduler' && r.finish !== undefined).map((r) => `${r.start}->${r.finish}`),
    ['released->waiting', 'waiting->processing', 'processing->memory'],
    "the scheduler's transitions",
  );
  t.ok(story.some((r) => r.where === 'scheduler' && r.stimulus === 'update-graph'), 'the graph that asked for it');
  const onB = story.filter((r) => r.where === b);
  t.same(onB.filter((r) => r.finish !== undefined).map((r) => r.finish).slice(-2), ['executing', 'memory'], 'the worker that ran it tells its part');
  t.ok(onB.some((r) => r.stimulus === 'compute-task'), 'including the compute-task it got');
  t.ok(story.every((r, i) => i === 0 || story[i - 1]!.ts <= r.ts), 'ordered by wall-clock time');

  const xStory = await client.story(x.key);
  t.ok(xStory.some((r) => r.where === a && r.finish === 'memory'), 'the dependency ran on the other worker');
  t.ok(xStory.some((r) => r.where === b && r.start === 'flight' && r.finish === 'memory'), 'and was fetched by the one that needed it');

  await t.rejects(client.story(5 as unknown as string), /key/, 'a key that is not a string is refused');
  t.same(await client.story('never-submitted'), [], 'an unknown key has an empty story');
  t.equal(await client.submit((n: number) => n * 2, 4).result(), 8, 'the scheduler works on');
}

t.test('client.story over an in-process cluster', (t) => clusterStory(t, false));
t.test('client.story over worker processes', (t) => clusterStory(t, true));
