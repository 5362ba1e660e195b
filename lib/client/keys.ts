/**
 * Task and data keys: `<name>-<32 hex>`.
 *
 * A pure task's token is the md5 of its function reference (JSON) and its
 * encoded arguments, so the same call gives the same key in every process and
 * on every machine; an impure task, or data scattered with `hash: false`, gets
 * a random token.
 */
import * as crypto from 'node:crypto';

/** One-shot hashing (Node >= 20.12) is several times cheaper than a Hash object per key. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;
const separator = new Uint8Array([0]);

/**
 * 32 hex characters identifying `parts`: the md5 of each part (strings as
 * UTF-8) followed by a zero byte, which keeps ('ab', 'c') and ('a', 'bc') apart.
 */
export function tokenize(...parts: ReadonlyArray<string | Uint8Array>): string {
  const bytes: Uint8Array[] = [];
  for (const part of parts) bytes.push(typeof part === 'string' ? Buffer.from(part) : part, separator);
  return md5Hex(bytes);
}

/** Prepared bytes of a leading string part, for `tokenizeAfter` on hot paths. */
export function tokenPrefix(part: string): Uint8Array {
  return Buffer.from(`${part}\u0000`);
}

/** Same as `tokenize(part, data)` when `prefix` is `tokenPrefix(part)`. */
export function tokenizeAfter(prefix: Uint8Array, data: Uint8Array): string {
  return md5Hex([prefix, data, separator]);
}

/** Same as `tokenize(joined)` for the bytes of `pieces` one after another, without joining them. */
export function tokenizePieces(pieces: readonly Uint8Array[]): string {
  return md5Hex([...pieces, separator]);
}

/** Above this, hashing the pieces one by one beats joining them (a copy) for the one-shot hash. */
const ONE_SHOT_MAX_BYTES = 64 * 1024;

function md5Hex(bytes: Uint8Array[]): string {
  if (oneShotHash !== undefined) {
    let total = 0;
    for (const chunk of bytes) total += chunk.byteLength;
    if (total <= ONE_SHOT_MAX_BYTES) return oneShotHash('md5', Buffer.concat(bytes), 'hex');
  }
  const hash = crypto.createHash('md5');
  for (const chunk of bytes) hash.update(chunk);
  return hash.digest('hex');
}

/** 32 random hex characters. */
export function randomToken(): string {
  return crypto.randomUUID().replaceAll('-', '');
}

export function makeKey(name: string, token: string): string {
  return `${name}-${token}`;
}

/** `name` with characters that would make keys awkward to read replaced. */
export function keyName(name: string): string {
  const cleaned = name.replace(/[^\w.$:<>]+/g, '_');
  return cleaned === '' ? 'lambda' : cleaned;
}
