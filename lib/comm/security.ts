/**
 * Security: the TLS credentials a program uses on `tls://` comms (dask's
 * `distributed.security.Security`). One CA, one certificate and its key: every
 * end presents the certificate and accepts only peers whose certificate the
 * CA signed (mutual TLS). A dialling end also checks that the certificate it
 * is shown names the host it dialled, as an IP or DNS subjectAltName
 * (`checkHostname: false` turns that off, for clusters whose certificates
 * cannot name every address).
 *
 * Everything is checked when the object is built, so that a bad file is
 * reported once, by name, at start-up (the CLIs turn that into exit 2) rather
 * than as a handshake failure later.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, type ConnectionOptions, type TlsOptions } from 'node:tls';
import { SecurityError } from '../errors.js';
import { makeTemporaryCredentials } from './temporary-credentials.js';

/**
 * Options of `new Security(...)`: the CA, certificate and key files, and whether plain tcp:// is refused.
 */
export interface SecurityOptions {
  /** The cluster's CA certificate(s): a PEM file, or PEM text. */
  caFile?: string;
  /** This program's certificate (optionally followed by its chain, and by its key): a PEM file, or PEM text. */
  certFile?: string;
  /** The certificate's private key (unencrypted): a PEM file, or PEM text. Optional when certFile holds the key. */
  keyFile?: string;
  /** Refuse every plain `tcp://` address with EncryptionRequiredError (default false). */
  requireEncryption?: boolean;
  /** Check that a dialled peer's certificate names the host dialled (default true). */
  checkHostname?: boolean;
}

/** A Security as plain strings: what a nanny hands its worker processes and a worker its threads. */
export interface SecurityPems {
  ca?: string;
  cert?: string;
  key?: string;
  requireEncryption: boolean;
  checkHostname: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;

interface LoadedPem {
  text: string;
  /** The file it came from; undefined for PEM text given inline. */
  file: string | undefined;
}

function describe(label: string, pem: LoadedPem): string {
  return pem.file === undefined ? `${label} (PEM text)` : `${label} ${pem.file}`;
}

function load(label: string, value: string): LoadedPem {
  if (typeof value !== 'string' || value === '') throw new SecurityError(`${label} must be a file name or PEM text`);
  // As dask: a value with a PEM header (or any newline) is the content itself.
  if (value.includes('-----BEGIN') || value.includes('\n')) return { text: value, file: undefined };
  try {
    return { text: readFileSync(value, 'utf8'), file: value };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new SecurityError(`${label} ${value}: cannot read it (${why})`, value, { cause: error });
  }
}

function blocks(text: string, kind: (type: string) => boolean): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) if (kind(match[1]!)) found.push(match[0]);
  return found;
}

function certificates(label: string, pem: LoadedPem): X509Certificate[] {
  const pems = blocks(pem.text, (type) => type === 'CERTIFICATE');
  if (pems.length === 0) throw new SecurityError(`${describe(label, pem)}: no PEM certificate in it`, pem.file);
  return pems.map((text) => {
    try {
      return new X509Certificate(text);
    } catch (error) {
      throw new SecurityError(`${describe(label, pem)}: not a valid certificate (${(error as Error).message})`, pem.file, { cause: error });
    }
  });
}

function privateKey(label: string, pem: LoadedPem): { key: KeyObject; text: string } {
  const [text] = blocks(pem.text, (type) => type.endsWith('PRIVATE KEY'));
  if (text === undefined) throw new SecurityError(`${describe(label, pem)}: no PEM private key in it`, pem.file);
  if (text.includes('ENCRYPTED')) throw new SecurityError(`${describe(label, pem)}: the key is encrypted; give an unencrypted key`, pem.file);
  try {
    return { key: createPrivateKey(text), text };
  } catch (error) {
    throw new SecurityError(`${describe(label, pem)}: not a valid private key (${(error as Error).message})`, pem.file, { cause: error });
  }
}

function checkDates(label: string, pem: LoadedPem, cert: X509Certificate, now = Date.now()): void {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (Number.isFinite(to) && now > to) throw new SecurityError(`${describe(label, pem)}: the certificate expired on ${cert.validTo}`, pem.file);
  if (Number.isFinite(from) && now < from) throw new SecurityError(`${describe(label, pem)}: the certificate is not valid before ${cert.validFrom}`, pem.file);
}

function signedBy(cert: X509Certificate, issuers: readonly X509Certificate[]): boolean {
  return issuers.some((issuer) => {
    try {
      return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
    } catch {
      return false;
    }
  });
}

/**
 * TLS credentials for a cluster: every connection made with them is mutual TLS (`tls://` addresses).
 *
 * @example
 * ```ts
 * const security = await Security.temporary();   // a fresh CA and certificates
 * await using cluster = await LocalCluster.start({ processes: true, security });
 * ```
 */
export class Security {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly requireEncryption: boolean;
  readonly checkHostname: boolean;
  /** Where the credentials came from, for messages (never the key itself). */
  readonly #origin: string;

  constructor(options: SecurityOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Security options must be an object');
    const known = new Set(['caFile', 'certFile', 'keyFile', 'requireEncryption', 'checkHostname']);
    for (const name of Object.keys(options)) {
      if (!known.has(name)) throw new TypeError(`unknown Security option ${JSON.stringify(name)} (known: ${[...known].join(', ')})`);
    }
    this.requireEncryption = options.requireEncryption ?? false;
    this.checkHostname = options.checkHostname ?? true;
    const { caFile, certFile, keyFile } = options;
    if (caFile === undefined && certFile === undefined && keyFile === undefined) {
      this.#origin = 'no credentials';
      return;
    }
    if (caFile === undefined || certFile === undefined) {
      throw new SecurityError('TLS needs both caFile (the cluster CA) and certFile (this program\'s certificate), and a key (keyFile or in certFile)');
    }
    const caPem = load('CA file', caFile);
    const certPem = load('certificate', certFile);
    const keyPem = keyFile === undefined ? certPem : load('key file', keyFile);
    const cas = certificates('CA file', caPem);
    const [leaf, ...chain] = certificates('certificate', certPem);
    const { key, text: keyText } = privateKey(keyFile === undefined ? 'certificate (no keyFile given, so the key)' : 'key file', keyPem);
    if (!leaf!.checkPrivateKey(key)) {
      throw new SecurityError(
        `${describe('key file', keyPem)} does not match ${describe('certificate', certPem)} (it is the key of another certificate)`,
        keyPem.file,
      );
    }
    checkDates('certificate', certPem, leaf!);
    for (const ca of cas) checkDates('CA file', caPem, ca);
    if (!signedBy(leaf!, [...cas, ...chain])) {
      throw new SecurityError(`${describe('certificate', certPem)} is not signed by the CA in ${describe('CA file', caPem)}`, certPem.file);
    }
    this.ca = blocks(caPem.text, (type) => type === 'CERTIFICATE').join('\n');
    this.cert = blocks(certPem.text, (type) => type === 'CERTIFICATE').join('\n');
    this.key = keyText;
    this.#origin = caPem.file === undefined ? 'in-memory PEM' : `ca=${caPem.file} cert=${certPem.file ?? 'PEM text'}`;
  }

  /**
   * A fresh CA and one certificate signed by it, for this program and the
   * processes it starts (a LocalCluster, a test). The certificate names
   * localhost, this host's name and every address of this machine, and is
   * used by every end; `requireEncryption` is on. Needs the `openssl` command.
   */
  static async temporary(): Promise<Security> {
    const pems = await makeTemporaryCredentials();
    return new Security({ caFile: pems.ca, certFile: pems.cert, keyFile: pems.key, requireEncryption: true });
  }

  /** Rebuild one from `toPems()` (in a worker thread or process). */
  static fromPems(pems: SecurityPems): Security {
    return new Security({
      ...(pems.ca === undefined ? {} : { caFile: pems.ca }),
      ...(pems.cert === undefined ? {} : { certFile: pems.cert }),
      ...(pems.key === undefined ? {} : { keyFile: pems.key }),
      requireEncryption: pems.requireEncryption,
      checkHostname: pems.checkHostname,
    });
  }

  /** Does this hold a CA, certificate and key (else it can only refuse plain comms)? */
  get hasCredentials(): boolean {
    return this.ca !== undefined && this.cert !== undefined && this.key !== undefined;
  }

  toPems(): SecurityPems {
    return {
      ...(this.ca === undefined ? {} : { ca: this.ca }),
      ...(this.cert === undefined ? {} : { cert: this.cert }),
      ...(this.key === undefined ? {} : { key: this.key }),
      requireEncryption: this.requireEncryption,
      checkHostname: this.checkHostname,
    };
  }

  /** For a tls:// listener: present our certificate, demand one the CA signed. */
  serverOptions(): TlsOptions {
    return {
      ca: this.ca,
      cert: this.cert,
      key: this.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    };
  }

  /** For dialling `host`: present our certificate, accept only a server the CA signed (and, by default, that names `host`). */
  clientOptions(host: string): ConnectionOptions {
    return {
      ca: this.ca,
      cert: this.cert,
      key: this.key,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      // SNI takes names only; an IP is still checked against the certificate's IP subjectAltNames.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      checkServerIdentity: this.checkHostname ? checkServerIdentity : () => undefined,
    };
  }

  toString(): string {
    return `Security(${this.#origin}${this.requireEncryption ? ', requireEncryption' : ''}${this.checkHostname ? '' : ', no hostname check'})`;
  }

  /** Never print key material. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  toJSON(): string {
    return this.toString();
  }
}
