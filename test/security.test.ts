/**
 * Security and the tls:// transport on their own (in this thread): PEM
 * files or text, what is refused at construction, host name checks against
 * IP/DNS subjectAltNames, requireEncryption, and key material never printed.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { EncryptionRequiredError, Security, SecurityError, TlsHandshakeError } from '../dist/index.js';
import { connect, listen } from '../dist/lib/comm/registry.js';
import type { Comm } from '../dist/lib/comm/comm.js';

const dir = mkdtempSync(join(tmpdir(), 'dts-security-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string): string => join(dir, name);
const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

openssl('req', '-x509', '-new', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=test CA',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
/** A certificate signed by ca.pem naming only `altNames`. */
function makeCert(name: string, altNames: string): void {
  writeFileSync(file(`${name}.ext`), `extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${altNames}\n`);
  openssl('req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(Date.now()), '-days', '30',
    '-extfile', `${name}.ext`, '-out', `${name}.pem`);
}
makeCert('loopback', 'IP:127.0.0.1,DNS:localhost');
makeCert('elsewhere', 'DNS:elsewhere.example,IP:10.9.8.7');
openssl('pkey', '-in', 'loopback.key', '-aes256', '-passout', 'pass:secret', '-out', 'encrypted.key');

const ca = readFileSync(file('ca.pem'), 'utf8');
const cert = readFileSync(file('loopback.pem'), 'utf8');
const key = readFileSync(file('loopback.key'), 'utf8');

/** Listen on tls:// with `server`, dial with `client`; resolves with the echo or the dial's error. */
async function echo(server: Security, client: Security, host = '127.0.0.1'): Promise<unknown> {
  const accepted: Comm[] = [];
  const listener = await listen('tls://127.0.0.1:0', (comm) => {
    accepted.push(comm);
    comm.onMessage((msg) => comm.write({ op: 'echo', got: msg.op }));
  }, { security: server });
  try {
    const port = /:(\d+)$/.exec(listener.address)![1];
    const comm = await connect(`tls://${host}:${port}`, { security: client, timeout: 5000 });
    const reply = new Promise((resolve) => comm.onMessage(resolve));
    comm.write({ op: 'hello' });
    const got = await reply;
    await comm.close();
    return got;
  } catch (error) {
    return error;
  } finally {
    await listener.close();
    await Promise.all(accepted.map((comm) => comm.close()));
  }
}

t.test('files and PEM text give the same credentials; nothing prints the key', async (t) => {
  const fromFiles = new Security({ caFile: file('ca.pem'), certFile: file('loopback.pem'), keyFile: file('loopback.key') });
  const fromText = new Security({ caFile: ca, certFile: cert, keyFile: key });
  const keyInCert = new Security({ caFile: ca, certFile: `${cert}\n${key}` });
  for (const security of [fromFiles, fromText, keyInCert]) {
    t.equal(security.hasCredentials, true);
    t.equal(security.key?.trim(), key.trim(), 'the same key');
    t.equal(security.requireEncryption, false, 'encryption is not required unless asked');
  }
  const again = Security.fromPems(fromFiles.toPems());
  t.same(again.toPems(), fromFiles.toPems(), 'toPems/fromPems round trip (what threads and worker processes get)');
  for (const shown of [String(fromFiles), inspect(fromFiles), JSON.stringify({ fromFiles })]) {
    t.notMatch(shown, /PRIVATE KEY/, `no key material in ${shown}`);
  }
  t.match(String(fromFiles), /ca\.pem/, 'but it says where the credentials came from');
  t.same(await echo(fromFiles, fromText), { op: 'echo', got: 'hello' }, 'a tls:// round trip');
});

t.test('what a Security refuses when it is built', async (t) => {
  t.throws(() => new Security({ caFile: ca } as never), SecurityError, 'a CA without a certificate');
  t.throws(() => new Security({ caFile: ca, certFile: cert }), /no PEM private key/, 'a certificate without a key');
  t.throws(() => new Security({ caFile: ca, certFile: cert, keyFile: file('encrypted.key') }), /encrypted/, 'an encrypted key');
  t.throws(() => new Security({ caFile: ca, certFile: cert, keyFile: file('elsewhere.key') }), /does not match/, 'another certificate\'s key');
  t.throws(() => new Security({ caFile: cert, certFile: file('elsewhere.pem'), keyFile: file('elsewhere.key') }), /is not signed by the CA/, 'a certificate the CA did not sign');
  t.throws(() => new Security({ caFile: file('missing.pem'), certFile: cert, keyFile: key }), /missing\.pem: cannot read it \(no such file\)/);
  t.throws(() => new Security({ caFile: dir, certFile: cert, keyFile: key }), /is a directory/);
  t.throws(() => new Security({ caFile: ca, certFile: cert, keyFile: key, tlsCiphers: 'x' } as never), TypeError, 'an unknown option');
  const error = t.throws(() => new Security({ caFile: ca, certFile: file('nope.pem'), keyFile: key })) as unknown as SecurityError;
  t.equal(error.file, file('nope.pem'), 'the error names the culprit file in .file too');
  const onlyRequire = new Security({ requireEncryption: true });
  t.equal(onlyRequire.hasCredentials, false, 'requireEncryption alone holds no credentials');
});

t.test('host names: the dialled host must be an IP or DNS subjectAltName of the certificate', async (t) => {
  const loopback = new Security({ caFile: ca, certFile: cert, keyFile: key });
  const elsewhere = new Security({ caFile: ca, certFile: file('elsewhere.pem'), keyFile: file('elsewhere.key') });
  t.same(await echo(loopback, elsewhere, 'localhost'), { op: 'echo', got: 'hello' }, 'DNS:localhost matches localhost');
  const refused = await echo(elsewhere, loopback);
  t.ok(refused instanceof TlsHandshakeError, 'a certificate naming other hosts is refused');
  t.match(String((refused as Error).message), /does not name this host/);
  const unchecked = new Security({ caFile: ca, certFile: cert, keyFile: key, checkHostname: false });
  t.same(await echo(elsewhere, unchecked), { op: 'echo', got: 'hello' }, 'checkHostname: false accepts any certificate the CA signed');
});

t.test('requireEncryption refuses tcp:// to dial and to listen; tls:// needs credentials', async (t) => {
  const strict = new Security({ caFile: ca, certFile: cert, keyFile: key, requireEncryption: true });
  await t.rejects(connect('tcp://127.0.0.1:9', { security: strict }), EncryptionRequiredError);
  await t.rejects(listen('tcp://127.0.0.1:0', () => undefined, { security: strict }), EncryptionRequiredError);
  const inproc = await listen('inproc://', () => undefined, { security: strict });
  t.match(inproc.address, /^inproc:\/\//, 'in-process comms are not affected');
  await inproc.close();
  await t.rejects(listen('tls://127.0.0.1:0', () => undefined, { security: new Security({ requireEncryption: true }) }), /without TLS credentials/);
});
