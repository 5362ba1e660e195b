/**
 * `story`: what the cluster remembers of one key (dask's `client.story`): the
 * scheduler's stimuli and transitions for it (SchedulerState.story) and each
 * worker's (WorkerState.story, asked with the worker's `story` RPC), merged
 * into one list of plain records ordered by wall-clock time. Every side keeps
 * bounded logs, so an old key's story may be short or empty; a worker that
 * does not answer in time is left out.
 */
import type { Peer } from '../comm/mailbox.js';
import type { ExtensionHandler, SchedulerExtension } from '../coordination/extension.js';
import type { StoryRecord } from '../protocol/messages.js';

export interface StoryHost {
  /** The scheduler's own story of a key. */
  story(key: string): StoryRecord[];
  /** Connected workers by address. */
  workers(): Iterable<[string, Peer]>;
  /** Told when a worker could not tell its part. */
  workerSilent?(address: string, error: unknown): void;
}

/** A worker that does not answer within this long is left out of the story. */
const WORKER_STORY_TIMEOUT = '5s';

export function createStoryExtension(host: StoryHost): SchedulerExtension {
  async function story(key: string): Promise<StoryRecord[]> {
    const parts: StoryRecord[][] = [host.story(key)];
    await Promise.all(
      [...host.workers()].map(async ([address, peer]) => {
        try {
          const records = await peer.call<StoryRecord[]>({ op: 'story', key }, { timeout: WORKER_STORY_TIMEOUT });
          if (Array.isArray(records)) parts.push(records);
        } catch (error) {
          host.workerSilent?.(address, error);
        }
      }),
    );
    // Array.prototype.sort is stable: records with equal times keep each side's own order.
    return parts.flat().sort((a, b) => a.ts - b.ts);
  }

  const handlers: Record<string, ExtensionHandler> = {
    story(msg) {
      if (typeof msg.key !== 'string') throw new TypeError("story: 'key' must be a string");
      return story(msg.key);
    },
  };
  return { handlers };
}
