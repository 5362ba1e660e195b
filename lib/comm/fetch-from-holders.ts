/**
 * Fetching values from the workers that hold them (`get_data`), written once
 * for both who do it: the scheduler answering a gather
 * (actors/scheduler/gather.ts), and a client fetching large values itself
 * (lib/client/direct-data.ts).
 *
 * Each round asks every worker once for all the keys it is to give; a worker
 * that answers `busy` (too many transfers at once) is asked again after a
 * doubling delay, a few times. A key a worker did not give (it failed, stayed
 * busy, or lacks the key) goes to its next holder in the following round.
 * What no holder gives is returned as `failed`, for the caller to decide
 * (missing, or another route). An error the `getData` callback throws (rather
 * than answering undefined) ends the whole fetch.
 */
import type { GetDataReply, HeldBlob } from '../protocol/messages.js';
import { FrameParts } from '../protocol/out-of-band.js';

export interface FetchFromHoldersOptions {
  /** The workers holding `key`, best first. Asked again each round: holders may change meanwhile. */
  holders(key: string): readonly string[];
  /** One get_data call to `address`; undefined when it could not be made (connection failed or closed). */
  getData(address: string, keys: string[]): Promise<GetDataReply | undefined>;
  /** Times a busy worker is asked again before its keys go to their next holders. */
  busyRetries: number;
  /** The first wait before asking a busy worker again (ms), doubling after each. */
  busyFirstDelayMs: number;
}

export interface FetchedValues {
  /** In one process, a large scattered binary may come by reference (FrameParts). */
  data: Record<string, HeldBlob>;
  /** Keys no holder gave. */
  failed: string[];
}

export async function fetchFromHolders(keys: Iterable<string>, options: FetchFromHoldersOptions): Promise<FetchedValues> {
  const data: Record<string, HeldBlob> = {};
  const failed: string[] = [];
  /** Per key, the workers asked already (they are not asked for it again). */
  const asked = new Map<string, Set<string>>();
  let left = [...new Set(keys)];
  while (left.length > 0) {
    const byWorker = new Map<string, string[]>();
    for (const key of left) {
      const seen = asked.get(key);
      const holder = options.holders(key).find((address) => seen === undefined || !seen.has(address));
      if (holder === undefined) {
        failed.push(key);
        continue;
      }
      const list = byWorker.get(holder);
      if (list === undefined) byWorker.set(holder, [key]);
      else list.push(key);
    }
    const again: string[] = [];
    await Promise.all(
      [...byWorker].map(async ([address, wanted]) => {
        const got = await askUntilNotBusy(options, address, wanted);
        for (const key of wanted) {
          const value = got?.[key];
          if (value instanceof Uint8Array || value instanceof FrameParts) {
            data[key] = value;
            continue;
          }
          let seen = asked.get(key);
          if (seen === undefined) asked.set(key, (seen = new Set()));
          seen.add(address);
          again.push(key);
        }
      }),
    );
    left = again;
  }
  return { data, failed };
}

/** The values `address` sent, or undefined when it could not be asked or stayed busy. */
async function askUntilNotBusy(options: FetchFromHoldersOptions, address: string, keys: string[]): Promise<Record<string, HeldBlob> | undefined> {
  let delay = options.busyFirstDelayMs;
  for (let attempt = 0; ; attempt++) {
    const reply = await options.getData(address, keys);
    if (reply === undefined) return undefined;
    if (reply.status !== 'busy') return typeof reply.data === 'object' && reply.data !== null ? reply.data : undefined;
    if (attempt >= options.busyRetries) return undefined;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay *= 2;
  }
}
