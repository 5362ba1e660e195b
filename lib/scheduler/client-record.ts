/** A client (or a pseudo-client such as 'fire-and-forget' or 'published-<name>') and the keys it wants. */
import type { TaskRecord } from './task-record.js';

export const FIRE_AND_FORGET = 'fire-and-forget';
export const PUBLISHED_PREFIX = 'published-';
/** Coordination primitives hold the futures put into them under these names. */
const HOLDER_PREFIXES = [PUBLISHED_PREFIX, 'queue-', 'variable-'];

/** Pseudo-clients never connect; nothing is ever sent to them. */
export function isPseudoClient(id: string): boolean {
  return id === FIRE_AND_FORGET || HOLDER_PREFIXES.some((prefix) => id.startsWith(prefix));
}

export class ClientRecord {
  readonly wantsWhat = new Set<TaskRecord>();
  constructor(readonly id: string, public name = id) {}

  get pseudo(): boolean {
    return isPseudoClient(this.id);
  }
}
