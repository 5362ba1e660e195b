/**
 * Values big enough that a client moves them to and from workers itself
 * (gather's `direct`, `scatter-plan` / `scatter-placed`) rather than through
 * the scheduler, and the workers a client can do that with.
 */

/** Values of at least this many bytes go directly between client and workers. */
export const DIRECT_TRANSFER_MIN_BYTES = 1024 * 1024;

/** A worker any client can dial: one on TCP (in-process workers' bytes are relayed, shared and uncopied). */
export function isDirectlyReachable(address: string): boolean {
  return address.startsWith('tcp://');
}
