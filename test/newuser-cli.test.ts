// First impressions on the command line: --version, and a second build that has nothing to do.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

t.test('building again with nothing changed has nothing to do (npm start does not rebuild)', async (t) => {
  // A dry build: it says what it would do and writes nothing, so it cannot disturb tests running meanwhile.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, '-b', `${root}tsconfig.json`, '--dry', '--verbose'],
    { cwd: root },
  );
  t.match(stdout, /is up to date/, stdout);
  t.notMatch(stdout, /would build/, 'nothing would be compiled');
});
