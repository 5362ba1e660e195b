/**
 * Task and data keys: `<name>-<32 hex>`.
 *
 * A pure task's token is a hash (md5; sha1 for large inputs) of its function
 * reference (JSON) and its encoded arguments, so the same call gives the same key in every process and
 * on every machine; an impure task, or data scattered with `hash: false`, gets
 * a random token.
 */
import * as crypto from 'node:crypto';

/** One-shot hashing (Node >= 20.12) is several times cheaper than a Hash object per key. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;
const separator = new Uint8Array([0]);

/**
 * 32 hex characters identifying `parts`: the hash of each part (strings as
 * UTF-8) followed by a zero byte, which keeps ('ab', 'c') and ('a', 'bc') apart.
 */
export function tokenize(...parts: ReadonlyArray<string | Uint8Array>): string {
  const bytes: Uint8Array[] = [];
  for (const part of parts) bytes.push(typeof part === 'string' ? Buffer.from(part) : part, separator);
  return tokenHex(bytes);
}

/** Prepared bytes of a leading string part, for `tokenizeAfter` on hot paths. */
export function tokenPrefix(part: string): Uint8Array {
  return Buffer.from(`${part}\u0000`);
}

/** Same as `tokenize(part, data)` when `prefix` is `tokenPrefix(part)`. */
export function tokenizeAfter(prefix: Uint8Array, data: Uint8Array): string {
  return tokenHex([prefix, data, separator]);
}

/** Same as `tokenize(joined)` for the bytes of `pieces` one after another, without joining them. */
export function tokenizePieces(pieces: readonly Uint8Array[]): string {
  return tokenHex([...pieces, separator]);
}

/**
 * Up to this many bytes a token is one md5 (one-shot when Node has it);
 * beyond, the pieces are hashed in turn (no join) with sha1, which runs on
 * the CPU's SHA instructions where it has them (3-4x md5 here), so a default
 * (`hash: true`) scatter of 100 MB spends ~0.1 s instead of ~0.4 s hashing.
 * Its first 32 hex characters keep the key's shape.
 */
const SMALL_INPUT_BYTES = 64 * 1024;

function tokenHex(bytes: Uint8Array[]): string {
  let total = 0;
  for (const chunk of bytes) total += chunk.byteLength;
  if (total > SMALL_INPUT_BYTES) {
    const hash = crypto.createHash('sha1');
    for (const chunk of bytes) hash.update(chunk);
    return hash.digest('hex').slice(0, 32);
  }
  if (oneShotHash !== undefined) return oneShotHash('md5', Buffer.concat(bytes), 'hex');
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
