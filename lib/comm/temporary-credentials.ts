/**
 * A throw-away CA and one certificate it signs, made with the `openssl`
 * command (the same tool docs/security.md teaches for real clusters, so
 * there is no crypto dependency to keep). EC P-256 keys: quick to make and
 * quick in handshakes. The certificate serves both as server and client
 * (extendedKeyUsage serverAuth + clientAuth) and names every way this machine
 * is dialled: localhost, its host name, loopback and each interface address.
 * Nothing is left on disk: the files live in a private temporary directory
 * that is removed before this returns.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecurityError } from '../errors.js';

export interface Pems {
  ca: string;
  cert: string;
  key: string;
}

const OPENSSL_TIMEOUT_MS = 30_000;
const DAYS = '365';

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: OPENSSL_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (error === null) {
        resolve();
        return;
      }
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new SecurityError(
        missing
          ? 'Security.temporary() needs the openssl command, which was not found on PATH'
          : `openssl ${args[0]} failed making temporary certificates: ${String(stderr).trim() || error.message}`,
        undefined,
        { cause: error },
      ));
    });
  });
}

/** The subjectAltNames of a certificate good for every address of this machine. */
export function localAltNames(): string[] {
  const names = new Set<string>(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
  const host = hostname();
  if (/^[A-Za-z0-9.-]+$/.test(host)) names.add(`DNS:${host}`);
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      // Link-local IPv6 addresses need a zone to be dialled: nobody dials them.
      if (info.family === 'IPv6' && /^fe[89ab]/i.test(info.address)) continue;
      names.add(`IP:${info.address}`);
    }
  }
  return [...names];
}

export async function makeTemporaryCredentials(): Promise<Pems> {
  const dir = await mkdtemp(join(tmpdir(), 'distributed-ts-tls-'));
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    await openssl(['req', '-x509', '-new', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', DAYS,
      '-subj', '/O=distributed-ts/CN=distributed-ts temporary CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    await openssl(['req', '-new', ...ec, '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/O=distributed-ts/CN=distributed-ts'], dir);
    await writeFile(join(dir, 'node.ext'), [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${localAltNames().join(',')}`,
      '',
    ].join('\n'), { mode: 0o600 });
    await openssl(['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-out', 'node.pem', '-days', DAYS,
      '-set_serial', `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}`, '-extfile', 'node.ext'], dir);
    const [ca, cert, key] = await Promise.all(['ca.pem', 'node.pem', 'node.key'].map((name) => readFile(join(dir, name), 'utf8')));
    return { ca: ca!, cert: cert!, key: key! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
