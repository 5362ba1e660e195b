/** The pure parts of dcluster/SSHCluster: the ssh words, failure messages, and the command line. */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { describeFailure, launchCommand, PREFLIGHT_NO_NODE, PREFLIGHT_NO_PACKAGE, preflightCommand, shellQuote, sshArgs } from '../dist/lib/deploy/ssh-command.js';
import { parseDclusterArgs } from '../dist/lib/cli/dcluster-args.js';

const paths = { node: '/opt/node 20/bin/node', packageDir: '/srv/dts/' };

t.test('shellQuote survives a real shell', async (t) => {
  for (const word of ['plain', 'with space', "it's", '$HOME', 'a"b', '`x`', '', '--tag=dts-1']) {
    const echoed = execFileSync('sh', ['-c', `printf %s ${shellQuote(word)}`], { encoding: 'utf8' });
    t.equal(echoed, word, JSON.stringify(word));
  }
});

t.test('sshArgs: never prompts, options and identity in order, the command last', async (t) => {
  const args = sshArgs('node1', 'true', { port: 2222, username: 'me', privateKey: '/k', options: { UserKnownHostsFile: '/kh' }, connectTimeout: 2500 });
  t.ok(args.includes('BatchMode=yes'));
  t.ok(args.includes('ConnectTimeout=3'), 'seconds, rounded up');
  t.ok(args.includes('UserKnownHostsFile=/kh'));
  t.same(args.slice(args.indexOf('-p'), args.indexOf('-p') + 2), ['-p', '2222']);
  t.same(args.slice(args.indexOf('-l'), args.indexOf('-l') + 2), ['-l', 'me']);
  t.same(args.slice(args.indexOf('-i'), args.indexOf('-i') + 2), ['-i', '/k']);
  t.same(args.slice(-3), ['--', 'node1', 'true'], 'a host starting with - cannot become an option');
  t.notOk(sshArgs('h', 'true').includes('-p'), 'no port: ssh decides');
});

t.test('remote command lines quote every word', async (t) => {
  t.equal(
    launchCommand(paths, 'dts-1', 'bin/dworker.js', ['tcp://a:1', '--name', 'x y']),
    "exec env DISTRIBUTED_TS_SSH_TAG=dts-1 '/opt/node 20/bin/node' /srv/dts/dist/actors/ssh/remote-launch.js --tag=dts-1 /srv/dts/dist/bin/dworker.js tcp://a:1 --name 'x y'",
  );
  const preflight = preflightCommand(paths);
  t.match(preflight, `exit ${PREFLIGHT_NO_NODE}`);
  t.match(preflight, "test -f /srv/dts/dist/bin/dworker.js");
  const exitOf = (line: string): number | null => spawnSync('sh', ['-c', line], { encoding: 'utf8' }).status;
  const repo = fileURLToPath(new URL('..', import.meta.url));
  t.equal(exitOf(preflightCommand({ node: '/nonexistent/node', packageDir: repo })), PREFLIGHT_NO_NODE, 'no Node: its own exit code');
  t.equal(exitOf(preflightCommand({ node: process.execPath, packageDir: '/nonexistent' })), PREFLIGHT_NO_PACKAGE, 'no package: its own exit code');
  const ok = spawnSync('sh', ['-c', preflightCommand({ node: process.execPath, packageDir: repo })], { encoding: 'utf8' });
  t.equal(ok.status, 0);
  t.equal(ok.stdout.trim(), process.version, 'both there: the remote Node version');
});

t.test('describeFailure names the host and says what to do', async (t) => {
  t.match(describeFailure('n1', 255, 'me@n1: Permission denied (publickey).', paths).message, /^n1: ssh refused the login \(key not accepted\): me@n1: Permission denied/);
  t.match(describeFailure('n1', 255, 'ssh: connect to host n1 port 22: Connection refused', paths).message, /^n1: cannot reach the host over ssh: ssh: connect/);
  t.match(describeFailure('n1', 255, 'Host key verification failed.', paths).message, /does not trust the host key/);
  t.match(describeFailure('n1', PREFLIGHT_NO_NODE, '', paths).message, /^n1: Node was not found at "\/opt\/node 20\/bin\/node" \(set --remote-node/);
  t.match(describeFailure('n1', PREFLIGHT_NO_PACKAGE, '', paths).message, /^n1: distributed-ts is not at "\/srv\/dts\/"/);
  const other = describeFailure('n1', 3, 'line one\nboom\n', paths);
  t.equal(other.message, 'n1: the remote command exited with code 3: boom');
  t.equal(other.name, 'RemoteHostError');
  t.equal(other.host, 'n1');
});

t.test('parseDclusterArgs', async (t) => {
  const run = parseDclusterArgs(['a', 'b', '--nprocs', '2', '--nthreads=4', '--ssh-port', '2222', '--ssh-username', 'me', '--ssh-private-key', '/k',
    '--ssh-option', 'A=1', '--ssh-option', 'B=x=y', '--remote-node', '/n', '--remote-dir', '/d', '--scheduler-port', '0', '--memory-limit', '2GB',
    '--tls-ca-file', '/ca', '--tls-cert', '/c']);
  t.equal(run.kind, 'run');
  if (run.kind !== 'run') return;
  t.same(run.options.hosts, ['a', 'b']);
  t.same(run.options.connectOptions, { port: 2222, username: 'me', privateKey: '/k', options: { A: '1', B: 'x=y' } });
  t.same(run.options.schedulerOptions, { port: 0 });
  t.same(run.options.workerOptions, { nprocs: 2, nthreads: 4, memoryLimit: '2GB' });
  t.same(run.options.security, { caFile: '/ca', certFile: '/c' });
  t.equal(run.options.remoteNode, '/n');
  t.equal(run.options.remotePackage, '/d');
  const defaults = parseDclusterArgs(['only']);
  t.same(defaults.kind === 'run' && [defaults.options.schedulerOptions.port, defaults.options.remoteNode, defaults.options.workerOptions.nprocs], [8786, 'node', 1]);
  t.equal(parseDclusterArgs(['-h']).kind, 'help');
  t.throws(() => parseDclusterArgs([]), { name: 'UsageError', message: /at least one HOST/ });
  t.throws(() => parseDclusterArgs(['a', '--nprocs', '0']), /--nprocs must be a positive integer/);
  t.throws(() => parseDclusterArgs(['a', '--ssh-option', 'novalue']), /NAME=VALUE/);
  t.throws(() => parseDclusterArgs(['a', '--tls-cert', '/c']), /--tls-ca-file and --tls-cert together/);
  t.throws(() => parseDclusterArgs(['a', '--ssh-port', '0']), /ssh-port/);
  t.throws(() => parseDclusterArgs(['a', '--bogus']), /unknown option --bogus/);
});
