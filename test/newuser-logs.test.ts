// Logs as a new user meets them: readable on a terminal, JSON otherwise,
// joins and leaves at info, a normal stop not reported as a death, a bad level said clearly.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { logFormat, logLevel } from '../dist/lib/logging.js';
import { binPath } from './fixtures/cli-process.js';
import { fixture, runNode } from './fixtures/run-node.js';

t.test('JSON off a terminal: joins and leaves at info, a normal stop is not a death', async (t) => {
  const run = await runNode([fixture('log-cluster.mjs')], { env: { DISTRIBUTED_LOG_LEVEL: 'info' }, timeoutMs: 60_000 });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /^result 2$/m);
  const lines = run.stderr.split('\n').filter((line) => line !== '');
  const records = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
  t.ok(records.length > 0, 'every line is JSON');
  const messages = records.filter((r) => r.level === 30).map((r) => r.msg);
  t.ok(messages.includes('worker joined'), 'worker joined at info');
  t.ok(messages.includes('worker left'), 'worker left at info');
  t.ok(messages.includes('client connected'), 'client connected at info');
  t.ok(messages.includes('client closed'), 'client closed at info');
  t.notOk(records.some((r) => /died unexpectedly/.test(r.msg)), 'a normal stop is not a death');
  t.notOk(records.some((r) => r.level >= 40), `nothing at warn or above: ${records.filter((r) => r.level >= 40).map((r) => r.msg).join('; ')}`);
});

t.test('on a terminal the lines are for people', async (t) => {
  // `script` gives the program a pseudo-terminal, as a shell would.
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(fixture('log-cluster.mjs'))}`;
  const env = { ...process.env, DISTRIBUTED_LOG_LEVEL: 'info' };
  delete env.NODE_OPTIONS;
  const { stdout } = await promisify(execFile)('script', ['-qec', command, '/dev/null'], { env, timeout: 60_000 });
  t.match(stdout, /INFO.*scheduler: worker joined/);
  t.notOk(/^\{"level"/m.test(stdout), 'no JSON lines');
});

t.test('level and format from the environment', async (t) => {
  t.equal(logLevel({}), 'warn');
  t.equal(logLevel({ DISTRIBUTED_LOG_LEVEL: 'DEBUG' }), 'debug');
  t.equal(logLevel({ DISTRIBUTED_LOG_LEVEL: 'loud' }), 'warn', 'a bad level falls back');
  t.equal(logFormat({}, true), 'pretty');
  t.equal(logFormat({}, false), 'json');
  t.equal(logFormat({ DISTRIBUTED_LOG_FORMAT: 'json' }, true), 'json');
});

t.test('a bad DISTRIBUTED_LOG_LEVEL is one clear line, not a crash', async (t) => {
  const run = await runNode([fixture('log-cluster.mjs')], { env: { DISTRIBUTED_LOG_LEVEL: 'loud' }, timeoutMs: 60_000 });
  t.equal(run.code, 0, 'the program still runs');
  t.match(run.stdout, /^result 2$/m);
  t.match(run.stderr, /DISTRIBUTED_LOG_LEVEL=\\?"loud\\?" is not a log level/);
  t.notOk(/unknown level|at .*pino/.test(run.stderr), 'no stack trace');
  const cli = await runNode([binPath('dscheduler'), '--port', '0'], { env: { DISTRIBUTED_LOG_LEVEL: 'loud' } });
  t.equal(cli.code, 2, 'dscheduler refuses it as a usage error');
  t.match(cli.stderr, /^dscheduler: error: DISTRIBUTED_LOG_LEVEL="loud" is not a log level \(use one of fatal, error, warn, info, debug, trace, silent\)$/m);
});
