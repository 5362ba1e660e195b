/**
 * Values big enough that a client moves them to and from workers itself
 * (gather's `direct`, `scatter-plan` / `scatter-placed`) rather than through
 * the scheduler, and the workers a client can do that with.
 */

/** Values of at least this many bytes go directly between client and workers. */
export const DIRECT_TRANSFER_MIN_BYTES = 1024 * 1024;

/** A worker any client can dial: one on TCP or TLS (in-process workers' bytes are relayed, shared and uncopied). */
export function isDirectlyReachable(address: string): boolean {
  return address.startsWith('tcp://') || address.startsWith('tls://');
}

/**
 * Sends each worker of a scatter `plan` (address -> keys) its keys' values
 * with `send`, all workers at once, and says where each key landed. A worker
 * whose `send` rejects took none of its keys (the caller logs why).
 */
export async function placeByPlan<V>(
  plan: Readonly<Record<string, readonly string[]>>,
  data: Readonly<Record<string, V>>,
  send: (address: string, subset: Record<string, V>) => Promise<void>,
): Promise<Map<string, string[]>> {
  const placed = new Map<string, string[]>();
  await Promise.all(
    Object.entries(plan).map(async ([address, keys]) => {
      const subset: Record<string, V> = {};
      for (const key of keys) subset[key] = data[key]!;
      try {
        await send(address, subset);
      } catch {
        return;
      }
      for (const key of keys) {
        const list = placed.get(key);
        if (list === undefined) placed.set(key, [address]);
        else list.push(address);
      }
    }),
  );
  return placed;
}
