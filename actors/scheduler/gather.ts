/**
 * `gather`: the values of keys, from the workers holding them. A key still
 * being computed is awaited; an erred key rejects with the task's blamed
 * exception; a key the scheduler does not know, or whose value no holder gave,
 * is listed in `missing`. Asked with `direct`, large values held by workers a
 * client can reach over TCP are not fetched here: the reply names their
 * holders, for the client to fetch itself.
 */
import { DistributedError } from '../../lib/errors.js';
import { fetchFromHolders } from '../../lib/comm/fetch-from-holders.js';
import { deserializeError } from '../../lib/protocol/errors.js';
import { DIRECT_TRANSFER_MIN_BYTES, isDirectlyReachable } from '../../lib/protocol/direct-transfer.js';
import type { GatherReply, GetDataReply, HeldBlob, SchedulerInbox } from '../../lib/protocol/messages.js';
import type { SettledKey } from '../../lib/scheduler/state.js';
import { inboxHandlers } from '../../lib/comm/mailbox.js';
import { requireKeys } from './checks.js';
import type { SchedulerExtension, SchedulerHost } from './host.js';

/** get_data answered `busy`: ask again after 20 ms, doubling, this many times (then the next holder). */
const BUSY_RETRIES = 6;
const BUSY_FIRST_DELAY_MS = 20;

export function createGatherExtension(host: SchedulerHost): SchedulerExtension {
  /** Values of `keys` from their holders; what no holder gave is added to `missing`. */
  async function fetchValues(keys: readonly string[], missing: string[]): Promise<Record<string, HeldBlob>> {
    if (keys.length === 0) return {};
    const { data, failed } = await fetchFromHolders(keys, {
      holders: (key) => (host.state.tasks.get(key)?.holders() ?? []).map((ws) => ws.address),
      getData: async (address, wanted) => {
        try {
          const peer = host.workerPeers.get(address);
          if (peer === undefined) throw new DistributedError(`${address} is not connected`);
          return await peer.call<GetDataReply>({ op: 'get_data', keys: wanted, who: host.address });
        } catch (error) {
          host.log.debug({ err: error, worker: address }, 'get_data failed; trying other holders');
          return undefined;
        }
      },
      busyRetries: BUSY_RETRIES,
      busyFirstDelayMs: BUSY_FIRST_DELAY_MS,
    });
    missing.push(...failed);
    return data;
  }

  async function gather(keys: string[], direct: boolean): Promise<GatherReply> {
    const missing: string[] = [];
    const ready: string[] = [];
    const pending: Promise<SettledKey>[] = [];
    for (const key of new Set(keys)) {
      const ts = host.state.tasks.get(key);
      if (ts === undefined) missing.push(key);
      else if (ts.state === 'memory') ready.push(key);
      else if (ts.state === 'erred') throw deserializeError(ts.exceptionBlame?.exception ?? { name: 'Error', message: `${key} erred` });
      else pending.push(host.whenSettled(key));
    }
    for (const entry of await Promise.all(pending)) {
      if (entry.state === 'memory') ready.push(entry.key);
      else if (entry.state === 'erred') throw deserializeError(entry.exception ?? { name: 'Error', message: `${entry.key} erred` });
      else missing.push(entry.key);
    }
    let relayed = ready;
    let holders: Record<string, string[]> | undefined;
    if (direct) {
      relayed = [];
      for (const key of ready) {
        const ts = host.state.tasks.get(key);
        const on = ts === undefined || ts.nbytes < DIRECT_TRANSFER_MIN_BYTES ? [] : ts.holders().filter((ws) => isDirectlyReachable(ws.address));
        if (on.length === 0) relayed.push(key);
        else (holders ??= {})[key] = on.map((ws) => ws.address);
      }
    }
    const data = await fetchValues(relayed, missing);
    return holders === undefined ? { data, missing } : { data, missing, direct: holders };
  }

  return {
    handlers: inboxHandlers<SchedulerInbox>({
      gather: (msg) => gather(requireKeys(msg.keys, 'gather'), msg.direct === true),
    }),
  };
}
