/**
 * dscheduler and dworker with --tls-ca-file/--tls-cert/--tls-key, using
 * certificates this test makes with the openssl command: they compute
 * together; a dworker without certificates, or with another CA's, never
 * registers; credentials that cannot be used exit 2 naming the file.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Security } from '../dist/index.js';
import { CliProcess, runCli } from './fixtures/cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'dts-tls-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA called `name`: name-ca.pem, name-ca.key. */
function makeCa(name: string): void {
  openssl('req', '-x509', '-new', ...EC, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '30', '-subj', `/CN=${name} test CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
}

/** A certificate for 127.0.0.1 and localhost signed by CA `ca`: out.pem, out.key. */
function makeCert(ca: string, out: string, days = '30'): void {
  writeFileSync(file('node.ext'), 'extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('req', '-new', ...EC, '-keyout', `${out}.key`, '-out', `${out}.csr`, '-subj', `/CN=${out}`);
  openssl('x509', '-req', '-in', `${out}.csr`, '-CA', `${ca}-ca.pem`, '-CAkey', `${ca}-ca.key`, '-set_serial', String(Date.now()),
    '-days', days, '-extfile', 'node.ext', '-out', `${out}.pem`);
}

makeCa('cluster');
makeCa('other');
makeCert('cluster', 'scheduler');
makeCert('cluster', 'worker');
makeCert('cluster', 'client');
makeCert('other', 'stranger');
makeCert('cluster', 'expired', '-1');
writeFileSync(file('not-pem.txt'), 'this is not a certificate\n');

const tlsFlags = (name: string, ca = 'cluster'): string[] => ['--tls-ca-file', file(`${ca}-ca.pem`), '--tls-cert', file(`${name}.pem`), '--tls-key', file(`${name}.key`)];

t.test('dscheduler and dworker with openssl-made certificates compute together; strangers never register', async (t) => {
  const scheduler = new CliProcess('dscheduler', ['--port', '0', ...tlsFlags('scheduler')]);
  t.teardown(() => scheduler.stop('SIGKILL'));
  const [announce] = await scheduler.waitForStdout(/^Start scheduler at (\S+)$/m);
  const address = announce![1]!;
  t.match(address, /^tls:\/\/127\.0\.0\.1:\d+$/, 'the scheduler announces a tls:// address');

  const workers = new CliProcess('dworker', [address, '--nprocs', '1', '--nthreads', '1', '--memory-limit', '0', ...tlsFlags('worker')]);
  t.teardown(() => workers.stop('SIGKILL'));
  const [started] = await workers.waitForStdout(/^Start worker at (\S+)$/m);
  t.match(started![1], /^tls:\/\/127\.0\.0\.1:\d+$/, 'the worker listens on tls://');

  const security = new Security({ caFile: file('cluster-ca.pem'), certFile: file('client.pem'), keyFile: file('client.key') });
  const client = await Client.connect(address, { security });
  t.teardown(() => client.close());
  t.equal(await client.submit((a: number, b: number) => a * b, 6, 7).result(), 42, 'a task ran on the TLS worker');
  const pids = Object.values(await client.run(() => process.pid));
  t.equal(pids.length, 1);
  t.not(pids[0], workers.pid, 'in the worker process the nanny started');

  const bare = await runCli('dworker', [address, '--nthreads', '1', '--memory-limit', '0', '--death-timeout', '3s']);
  t.equal(bare.code, 1, 'a dworker without certificates fails');
  t.match(bare.stderr, /without TLS credentials/, `and says why: ${bare.stderr.trim()}`);

  const stranger = await runCli('dworker', [address, '--nthreads', '1', '--memory-limit', '0', '--death-timeout', '3s', ...tlsFlags('stranger', 'other')]);
  t.equal(stranger.code, 1, 'a dworker with another CA\'s certificate gives up');
  t.match(stranger.stderr, /TLS handshake with tls:\/\/127\.0\.0\.1:\d+ failed/, `naming the handshake: ${stranger.stderr.trim()}`);
  t.match(scheduler.stdout + scheduler.stderr, /refused a TLS connection from tls:\/\/127\.0\.0\.1:\d+/, 'the scheduler logged the refusal with the address');

  t.same(Object.keys(await client.nthreads()), [started![1]], 'only the worker with certificates registered');
  t.equal(await client.submit((x: number) => x + 1, 1).result(), 2, 'and the cluster still computes');
});

t.test('credentials that cannot be used exit 2, naming the file and the problem', async (t) => {
  const cases: { name: string; flags: string[]; says: RegExp }[] = [
    { name: 'a missing CA file', flags: ['--tls-ca-file', file('nope.pem'), '--tls-cert', file('worker.pem'), '--tls-key', file('worker.key')], says: /nope\.pem: cannot read it \(no such file\)/ },
    { name: 'a key of another certificate', flags: ['--tls-ca-file', file('cluster-ca.pem'), '--tls-cert', file('worker.pem'), '--tls-key', file('client.key')], says: /client\.key does not match .*worker\.pem/ },
    { name: 'an expired certificate', flags: tlsFlags('expired'), says: /expired\.pem: the certificate expired on/ },
    { name: 'a file that is not PEM', flags: ['--tls-ca-file', file('cluster-ca.pem'), '--tls-cert', file('not-pem.txt'), '--tls-key', file('worker.key')], says: /not-pem\.txt: no PEM certificate in it/ },
    { name: 'a certificate from another CA', flags: ['--tls-ca-file', file('cluster-ca.pem'), '--tls-cert', file('stranger.pem'), '--tls-key', file('stranger.key')], says: /stranger\.pem is not signed by the CA/ },
    { name: 'a CA without a certificate', flags: ['--tls-ca-file', file('cluster-ca.pem')], says: /missing --tls-cert/ },
  ];
  for (const { name, flags, says } of cases) {
    const scheduler = await runCli('dscheduler', ['--port', '0', ...flags]);
    t.equal(scheduler.code, 2, `dscheduler: ${name} exits 2`);
    t.match(scheduler.stderr, says, `dscheduler: ${name} is named`);
    const worker = await runCli('dworker', ['tls://127.0.0.1:1', ...flags]);
    t.equal(worker.code, 2, `dworker: ${name} exits 2`);
    t.match(worker.stderr, says, `dworker: ${name} is named`);
  }
});
