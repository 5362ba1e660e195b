// First impressions on the command line: --version, and a second build that has nothing to do.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import { runCli } from './fixtures/cli-process.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

t.test('dscheduler --version and dworker --version', async (t) => {
  for (const name of ['dscheduler', 'dworker'] as const) {
    const run = await runCli(name, ['--version']);
    t.equal(run.code, 0, `${name} exits 0`);
    t.equal(run.stdout, `${name}, version ${version}\n`);
    t.equal(run.stderr, '');
  }
  t.match((await runCli('dworker', ['--help'])).stdout, /--version/, 'help mentions it');
});

t.test('building again with nothing changed writes nothing (npm start does not rebuild)', async (t) => {
  const output = `${root}dist/lib/index.js`;
  const before = statSync(output).mtimeMs;
  await promisify(execFile)(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.json`], { cwd: root });
  t.equal(statSync(output).mtimeMs, before, 'the compiled files were not written again');
});
