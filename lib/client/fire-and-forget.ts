/**
 * `fireAndForget(futures)`: the tasks run to completion even after every
 * Future for them is dropped. The scheduler holds their keys for the
 * pseudo-client 'fire-and-forget' and forgets them once they are done.
 */
import { ownerOf, type Future } from './future.js';
import { futuresIn } from './gather-shapes.js';

export const fireAndForgetClient = 'fire-and-forget';

/**
 * Keeps the futures' tasks running after every Future for them is released
 * or garbage collected (for side effects: writing files, sending messages).
 *
 * @example
 * ```ts
 * fireAndForget(client.submit(writeReport, day));
 * ```
 */
export function fireAndForget(futures: Future<unknown> | Iterable<Future<unknown>>): void {
  const byOwner = new Map<ReturnType<typeof ownerOf>, string[]>();
  for (const future of futuresIn(futures)) {
    const owner = ownerOf(future);
    let keys = byOwner.get(owner);
    if (keys === undefined) byOwner.set(owner, (keys = []));
    keys.push(future.key);
  }
  for (const [owner, keys] of byOwner) owner.desireKeys(keys, fireAndForgetClient);
}
