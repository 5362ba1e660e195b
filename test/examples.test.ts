/** The examples run as users run them (built, in their own process) and print what they promise. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function runExample(name: string, timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = fileURLToPath(new URL(`../dist/examples/${name}.js`, import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stdout, stderr });
  }));
}

t.test('wordcount (npm start) prints the top ten words and the time', async (t) => {
  const { code, stdout } = await runExample('wordcount');
  t.equal(code, 0);
  t.match(stdout, /Top 10 of \d+ distinct words \([\d,]+ in all\)/);
  t.match(stdout, /^\s+1\. the\s+[\d,]+$/m, 'the most frequent generated word comes first');
  t.match(stdout, /^Done in \d+\.\d+ s$/m);
});

t.test('cluster-tour (npm run tour) goes through every stop with the right answers', async (t) => {
  const { code, stdout } = await runExample('cluster-tour');
  t.equal(code, 0);
  const expected: Array<[string, RegExp]> = [
    ['dashboard', /http:\/\/127\.0\.0\.1:\d+\/status$/],
    ['sum of squares 0..9', /^285$/],
    ['delayed: (1 + 1) + (2 + 1)', /^5$/],
    ['8 MB moved between workers, byte sum', /^56000000$/],
    ['fib(12), computed by tasks submitting tasks', /^144$/],
    ['counter after 8 locked increments', /^8$/],
    ['actor after add(5), add(10)', /^15$/],
    ['a task that kills its worker', /^KilledWorker: /],
    ['still computing after that', /^42$/],
  ];
  for (const [label, value] of expected) {
    const line = stdout.split('\n').find((l) => l.startsWith(label));
    t.ok(line !== undefined, `prints "${label}"`);
    t.match(line?.slice(44).trim() ?? '', value, label);
  }
});

t.test('piscina-swap runs one piscina program on piscina, then on a ClusterPool, with the same answers', async (t) => {
  const { code, stdout } = await runExample('piscina-swap');
  t.equal(code, 0);
  t.match(stdout, /^piscina: +148933 primes below 2,000,000; largest 1999993; aborted run: AbortError; completed 42$/m);
  t.match(stdout, /^ClusterPool: 148933 primes below 2,000,000; largest 1999993; aborted run: AbortError; completed 42$/m);
  t.match(stdout, /^same answers$/m);
});
