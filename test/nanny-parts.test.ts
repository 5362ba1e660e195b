/** The nanny's pure parts: memory watchdog, restart backoff, preload hooks, stopping a child for sure. */
import t from 'tap';
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryMonitor, procRss } from '../dist/lib/nanny/memory-monitor.js';
import { RestartBackoff } from '../dist/lib/nanny/restart-backoff.js';
import { importPreloads, preloadUrl, runSetups, runTeardowns, PreloadError } from '../dist/lib/nanny/preload.js';
import { stopChild, hasExited } from '../dist/lib/nanny/stop-child.js';

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

t.test('memory monitor: pause at 80%, resume below, terminate once at 95%', async (t) => {
  const samples = [10, 79, 80, 85, 50, 81, 95, 99, 99];
  const events: string[] = [];
  let i = 0;
  const monitor = new MemoryMonitor({
    limit: 100,
    sample: () => samples[i++],
    onPause: (rss) => events.push(`pause ${rss}`),
    onUnpause: (rss) => events.push(`unpause ${rss}`),
    onTerminate: (rss) => events.push(`terminate ${rss}`),
  });
  for (let n = 0; n < samples.length; n++) monitor.check();
  t.same(events, ['pause 80', 'unpause 50', 'pause 81', 'terminate 95']);
  monitor.reset();
  samples.push(96);
  i = samples.length - 1;
  monitor.check();
  t.same(events.at(-1), 'terminate 96', 'after reset (a new worker) it can terminate again');
  const quiet = new MemoryMonitor({ limit: 100, sample: () => undefined, onPause: () => events.push('x'), onUnpause: () => events.push('x'), onTerminate: () => events.push('x') });
  quiet.check();
  t.notOk(events.includes('x'), 'an unknown sample does nothing');
});

t.test('memory monitor samples on its own timer and stops', async (t) => {
  let calls = 0;
  const monitor = new MemoryMonitor({ limit: 100, intervalMs: 10, sample: () => (calls++, 1), onPause: () => undefined, onUnpause: () => undefined, onTerminate: () => undefined });
  monitor.start();
  await new Promise((resolve) => setTimeout(resolve, 120));
  monitor.stop();
  const after = calls;
  t.ok(after >= 3, `sampled repeatedly (${after})`);
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal(calls, after, 'no samples after stop');
});

t.test('procRss reads this process from /proc', { skip: process.platform !== 'linux' ? 'linux only' : false }, async (t) => {
  const rss = procRss(process.pid);
  t.ok(rss !== undefined && rss > 1e6, `rss ${rss}`);
  t.equal(procRss(2 ** 30), undefined, 'no such process');
});

t.test('restart backoff: immediate, then growing, capped, reset after a stable run', async (t) => {
  const backoff = new RestartBackoff({ baseMs: 100, maxMs: 500, stableMs: 1000 });
  t.same([0, 0, 0, 0, 0].map(() => backoff.nextDelay(10)), [0, 100, 200, 400, 500]);
  t.equal(backoff.nextDelay(5000), 0, 'a worker that stayed up resets the sequence');
  t.equal(backoff.nextDelay(10), 100);
});

t.test('preload: paths, hooks in order, clear errors', async (t) => {
  t.equal(preloadUrl('./x.js', '/base'), 'file:///base/x.js');
  t.equal(preloadUrl('/abs/y.mjs', '/base'), 'file:///abs/y.mjs');
  t.equal(preloadUrl('file:///z.js', '/base'), 'file:///z.js');
  t.equal(preloadUrl('tap', fileURLToPath(new URL('..', import.meta.url))).startsWith('file://'), true, 'packages resolve from cwd');

  const dir = mkdtempSync(join(tmpdir(), 'dts-preload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  process.env.DTS_PRELOAD_MARK_DIR = dir;
  t.teardown(() => void delete process.env.DTS_PRELOAD_MARK_DIR);
  const modules = await importPreloads([fixture('preload-module.mjs')], '/');
  t.equal(modules.length, 1);
  t.type(modules[0]!.setup, 'function');
  await runSetups(modules, { address: 'tcp://w:1' });
  t.same(readdirSync(dir), [`setup-${process.pid}`]);
  t.same(await runTeardowns(modules, { address: 'tcp://w:1' }), []);
  t.same(readdirSync(dir).sort(), [`setup-${process.pid}`, `teardown-${process.pid}`]);

  await t.rejects(importPreloads(['./no-such-module.js'], dir), PreloadError as unknown as Error);
  await t.rejects(importPreloads(['./no-such-module.js'], dir), { message: /cannot import --preload module "\.\/no-such-module\.js"/ });
  const failing = [{ specifier: 'bad', setup: () => { throw new Error('boom'); }, teardown: () => { throw new Error('bang'); } }];
  await t.rejects(runSetups(failing, {}), { name: 'PreloadError', message: /setup\(\) of --preload module "bad" failed: boom/ });
  const failures = await runTeardowns([...failing, { specifier: 'ok' }], {});
  t.same(failures.map((e) => e.message), ['bang'], 'a failing teardown is reported, the others still run');
});

t.test('stopChild: a polite child exits on the IPC stop', async (t) => {
  const child = fork(fixture('polite-child.mjs'), [], { execArgv: [] });
  await new Promise((resolve) => child.once('message', resolve));
  const started = Date.now();
  await stopChild(child, { reason: 'test', graceMs: 2000 });
  t.ok(hasExited(child));
  t.equal(child.exitCode, 0, 'clean exit');
  t.ok(Date.now() - started < 1500, 'no need to wait for the grace period');
});

t.test('stopChild: a child ignoring stop and SIGTERM gets SIGKILL', async (t) => {
  const child = fork(fixture('stubborn-child.mjs'), [], { execArgv: [] });
  const seen: string[] = [];
  child.on('message', (m: { type: string }) => seen.push(m.type));
  await new Promise((resolve) => child.once('message', resolve));
  await stopChild(child, { reason: 'test', graceMs: 200, termGraceMs: 200 });
  t.ok(hasExited(child));
  t.equal(child.signalCode, 'SIGKILL');
  t.ok(seen.includes('ignored'), 'it was asked politely first');
  t.ok(seen.includes('got-sigterm'), 'then got SIGTERM');
});
