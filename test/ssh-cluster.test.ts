/**
 * dcluster and SSHCluster against a real OpenSSH server on 127.0.0.1: a
 * client computes on the workers they start; SIGINT or close() leaves no
 * process behind (checked by the tag every started process carries in its
 * environment, and with pgrep); an unreachable host, a refused key, a missing
 * Node or package fail with the host named and nothing left running.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Client, RemoteHostError, Security, SSHCluster } from '../dist/index.js';
import { unusedPort, waitUntil } from './fixtures/cli-process.js';
import { pgrep, startSshd, taggedProcesses, type Sshd } from './fixtures/sshd.js';

const dcluster = fileURLToPath(new URL('../dist/bin/dcluster.js', import.meta.url));
const HOST = '127.0.0.1';

let sshd: Sshd;
t.before(async () => {
  sshd = await startSshd();
});
t.teardown(() => sshd.stop());

const connectOptions = (): { port: number; privateKey: string; options: Record<string, string> } => ({
  port: sshd.port,
  privateKey: sshd.key,
  options: sshd.sshOptions,
});

async function nothingLeft(tag: string): Promise<void> {
  await waitUntil(() => taggedProcesses(tag).length === 0 && pgrep(tag).length === 0, 30_000, `every process tagged ${tag} to end`);
}

/** The workers' pids, from tasks pinned to each worker in turn. */
async function pidsOfEachWorker(client: Client): Promise<number[]> {
  const workers = Object.keys((await client.schedulerInfo()).workers);
  return Promise.all(workers.map((w) => client.with({ workers: [w], pure: false }).submit(() => process.pid).result()));
}

t.test('dcluster HOST HOST: a client computes across its workers; SIGINT leaves nothing behind', async (t) => {
  const child = spawn(
    process.execPath,
    [
      dcluster, HOST, HOST,
      '--ssh-port', String(sshd.port),
      '--ssh-private-key', sshd.key,
      '--ssh-option', `UserKnownHostsFile=${sshd.sshOptions.UserKnownHostsFile}`,
      '--remote-node', process.execPath,
      '--scheduler-port', String(await unusedPort()),
      '--nthreads', '1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  await waitUntil(() => /DISTRIBUTED_TS_SSH_TAG=(\S+)/.test(stdout) || child.exitCode !== null, 60_000, 'dcluster to report the cluster');
  t.equal(child.exitCode, null, `dcluster is running (stderr: ${stderr})`);
  const address = /Scheduler at (\S+) \((\d+) workers registered\)/.exec(stdout);
  t.ok(address, 'prints the scheduler address once the workers registered');
  t.equal(address?.[2], '2', 'one worker per host listed');
  t.match(stdout, /^127\.0\.0\.1 scheduler \| Start scheduler at tcp:\/\//m, 'remote output comes with the host in front');
  t.match(stdout, /^127\.0\.0\.1 ssh-1 \| Registered with scheduler at/m);
  const tag = /DISTRIBUTED_TS_SSH_TAG=(\S+)/.exec(stdout)![1]!;
  t.ok(taggedProcesses(tag).length >= 6, 'launchers, scheduler, dworkers and worker processes are running');
  t.ok(pgrep(tag).length >= 3, 'pgrep finds them by the tag');

  const client = await Client.connect(address![1]!);
  const pids = await pidsOfEachWorker(client);
  t.equal(new Set(pids).size, 2, 'two worker processes computed');
  t.same(await client.gather(client.map((x: number) => x * x, [1, 2, 3, 4, 5, 6])), [1, 4, 9, 16, 25, 36]);
  await client.close();

  child.kill('SIGINT');
  t.equal(await exited, 0, 'dcluster exits cleanly on SIGINT');
  await nothingLeft(tag);
  t.same(taggedProcesses(tag), [], 'no process left on the host');
});

t.test('dcluster killed outright (SIGKILL): the remote processes still end with their sessions', async (t) => {
  const child = spawn(
    process.execPath,
    [dcluster, HOST, '--ssh-port', String(sshd.port), '--ssh-private-key', sshd.key,
      '--ssh-option', `UserKnownHostsFile=${sshd.sshOptions.UserKnownHostsFile}`, '--remote-node', process.execPath,
      '--scheduler-port', '0', '--nthreads', '1', '--nprocs', '2'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitUntil(() => /DISTRIBUTED_TS_SSH_TAG=(\S+)/.test(stdout) || child.exitCode !== null, 60_000, 'dcluster to report the cluster');
  t.match(stdout, /\(2 workers registered\)/, '--nprocs 2: two worker processes on the one host');
  const tag = /DISTRIBUTED_TS_SSH_TAG=(\S+)/.exec(stdout)![1]!;
  t.ok(taggedProcesses(tag).length >= 5);
  child.kill('SIGKILL');
  await nothingLeft(tag);
  t.same(taggedProcesses(tag), [], 'the closed sessions took every remote process with them');
});

t.test('SSHCluster from code: compute, scale up and down, close leaves nothing', async (t) => {
  const lines: string[] = [];
  const cluster = await SSHCluster.start({
    hosts: [HOST, HOST],
    connectOptions: connectOptions(),
    schedulerOptions: { port: 0 },
    workerOptions: { nthreads: 1 },
    remoteNode: process.execPath,
    onOutput: (line) => lines.push(line),
  });
  t.teardown(() => cluster.close());
  t.match(cluster.schedulerAddress, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  t.equal(cluster.workers.length, 2);
  t.ok(lines.some((line) => line.startsWith('127.0.0.1 ssh-0 | Start worker at')), 'output is handed on, labelled');
  const client = await Client.connect(cluster.schedulerAddress);
  t.teardown(() => client.close());
  t.equal(new Set(await pidsOfEachWorker(client)).size, 2, 'both workers compute');

  const data = await client.scatter([10, 20, 30, 40]);
  await cluster.scale(3);
  t.equal(cluster.workers.length, 3, 'a third worker over SSH');
  await client.waitForWorkers(3);
  await cluster.scale(1);
  t.equal(cluster.workers.length, 1, 'two retired gracefully');
  t.equal(Object.keys((await client.schedulerInfo()).workers).length, 1);
  t.same(await client.gather(data), [10, 20, 30, 40], 'their data moved first');

  await client.close();
  await cluster.close();
  await nothingLeft(cluster.tag);
  t.same(taggedProcesses(cluster.tag), [], 'close() stopped every process on the host');
});

t.test('SSHCluster with TLS (a Security, or file paths): a client computes, scale() works, close leaves nothing', async (t) => {
  const security = await Security.temporary();
  const dir = mkdtempSync(join(tmpdir(), 'dts-ssh-tls-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const files = { caFile: join(dir, 'ca.pem'), certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  writeFileSync(files.caFile, security.ca!);
  writeFileSync(files.certFile, security.cert!);
  writeFileSync(files.keyFile, security.key!, { mode: 0o600 });

  for (const [form, given] of [['Security', security], ['file paths', files]] as const) {
    const cluster = await SSHCluster.start({
      hosts: [HOST],
      connectOptions: connectOptions(),
      schedulerOptions: { port: 0 },
      workerOptions: { nthreads: 1 },
      remoteNode: process.execPath,
      security: given,
    });
    t.teardown(() => cluster.close());
    t.match(cluster.schedulerAddress, /^tls:\/\/127\.0\.0\.1:\d+$/, `${form}: a tls:// scheduler`);
    // scale() first: no client in this program has lent its credentials yet, so the
    // cluster dials the scheduler (workers_to_close, retire) with its own.
    await cluster.scale(2);
    t.equal(cluster.workers.length, 2, `${form}: scale(2)`);
    await cluster.scale(1);
    t.equal(cluster.workers.length, 1, `${form}: scale(1) over the cluster's own TLS connection`);
    const client = await Client.connect(cluster.schedulerAddress, { security });
    t.equal(await client.submit((x: number) => x + 1, 41).result(), 42, `${form}: a client with the certificates computes`);
    t.equal(Object.keys((await client.schedulerInfo()).workers).length, 1, `${form}: one worker after scale(1)`);
    await cluster.scale(2);
    await client.waitForWorkers(2);
    t.equal(new Set(await pidsOfEachWorker(client)).size, 2, `${form}: scale(2) again, both workers compute`);
    await client.close();
    await cluster.close();
    await nothingLeft(cluster.tag);
    t.same(taggedProcesses(cluster.tag), [], `${form}: close() stopped every process`);
  }
});

t.test('SSHCluster with a Security: its PEMs go to a private directory, removed on close', async (t) => {
  const security = await Security.temporary();
  const cluster = await SSHCluster.start({
    hosts: [HOST],
    connectOptions: connectOptions(),
    schedulerOptions: { port: 0 },
    workerOptions: { nthreads: 1 },
    remoteNode: process.execPath,
    security,
  });
  t.teardown(() => cluster.close());
  // The key file named on the command lines of the processes it started.
  const dirs = [...new Set(taggedProcesses(cluster.tag).flatMap((pid) => {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = args.indexOf('--tls-key');
    return at >= 0 ? [args[at + 1]!] : [];
  }))];
  t.ok(dirs.length >= 1, 'the remote processes were given key files');
  for (const file of dirs) t.equal(statSync(file).mode & 0o777, 0o600, `${file} is private`);
  await cluster.close();
  for (const file of dirs) t.notOk(existsSync(file), `${file} removed on close`);
  await nothingLeft(cluster.tag);
});

t.test('failures name the host and leave nothing running', async (t) => {
  const base = { schedulerOptions: { port: 0 }, remoteNode: process.execPath, timeout: '20s' };
  const before = new Set(pgrep('DISTRIBUTED_TS_SSH_TAG'));
  const unreachable = SSHCluster.start({ ...base, hosts: [HOST, '127.0.0.2'], connectOptions: connectOptions() });
  await t.rejects(unreachable, { name: 'RemoteHostError', host: '127.0.0.2', message: /^127\.0\.0\.2: cannot reach the host over ssh/ });

  const refused = SSHCluster.start({ ...base, hosts: [HOST], connectOptions: { ...connectOptions(), privateKey: sshd.wrongKey } });
  await t.rejects(refused, { name: 'RemoteHostError', message: /^127\.0\.0\.1: ssh refused the login/ });

  const noNode = SSHCluster.start({ ...base, hosts: [HOST], connectOptions: connectOptions(), remoteNode: '/nonexistent/node' });
  await t.rejects(noNode, { message: /^127\.0\.0\.1: Node was not found at "\/nonexistent\/node"/ });

  const noPackage = SSHCluster.start({ ...base, hosts: [HOST], connectOptions: connectOptions(), remotePackage: '/nonexistent/dts' });
  await t.rejects(noPackage, { message: /^127\.0\.0\.1: distributed-ts is not at "\/nonexistent\/dts"/ });
  t.ok((await unreachable.catch((e: unknown) => e)) instanceof RemoteHostError, 'a typed error');

  // The CLI: the same message, exit code 1.
  const run = spawn(process.execPath, [dcluster, HOST, '127.0.0.2', '--ssh-port', String(sshd.port), '--ssh-private-key', sshd.key,
    '--ssh-option', `UserKnownHostsFile=${sshd.sshOptions.UserKnownHostsFile}`, '--remote-node', process.execPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  run.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => run.on('close', resolve));
  t.equal(code, 1);
  t.match(stderr, /dcluster: 127\.0\.0\.2: cannot reach the host over ssh/);

  const after = pgrep('DISTRIBUTED_TS_SSH_TAG').filter((pid) => !before.has(pid));
  t.same(after, [], 'no ssh session or remote process was left');
  await t.rejects(SSHCluster.start({ hosts: [] }), /hosts must be a non-empty list/);
});
