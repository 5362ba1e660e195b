/**
 * dask's TLS flags, shared by dscheduler and dworker: `--tls-ca-file`,
 * `--tls-cert`, `--tls-key`. Given, they make a Security that requires
 * encryption (as dask does once any TLS option is set); a file that cannot be
 * used is a UsageError (exit 2) naming the file and the problem.
 */
import { Security } from '../comm/security.js';
import { SecurityError } from '../errors.js';
import { stringFlag, type FlagSpecs, type ParsedFlags } from './parse-flags.js';
import { UsageError } from './usage-error.js';

export const TLS_FLAG_SPECS: FlagSpecs = {
  'tls-ca-file': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
};

export const TLS_USAGE = '[--tls-ca-file FILE --tls-cert FILE [--tls-key FILE]]';

export const TLS_HELP = `  --tls-ca-file FILE         the cluster's CA certificate (PEM): peers must present a certificate it signed
  --tls-cert FILE            this program's certificate (PEM), signed by that CA
  --tls-key FILE             the certificate's private key (PEM; may instead follow the certificate in --tls-cert)
                             With these every connection is mutual TLS (tls://) and plain tcp:// is refused.`;

/** The Security the flags describe; undefined when none is given. */
export function tlsSecurity(flags: ParsedFlags): Security | undefined {
  const caFile = stringFlag(flags, 'tls-ca-file');
  const certFile = stringFlag(flags, 'tls-cert');
  const keyFile = stringFlag(flags, 'tls-key');
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return undefined;
  if (caFile === undefined || certFile === undefined) {
    const missing = [caFile === undefined ? '--tls-ca-file' : undefined, certFile === undefined ? '--tls-cert' : undefined].filter(Boolean);
    throw new UsageError(`TLS needs --tls-ca-file and --tls-cert (and a key): missing ${missing.join(' and ')}`);
  }
  try {
    return new Security({ caFile, certFile, ...(keyFile === undefined ? {} : { keyFile }), requireEncryption: true });
  } catch (error) {
    if (error instanceof SecurityError) throw new UsageError(`unusable TLS credentials: ${error.message}`, { cause: error });
    throw error;
  }
}
