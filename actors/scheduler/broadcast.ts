/**
 * What the scheduler sends to every worker outside the task system:
 * `broadcast-run` (client.run: a function on each worker, its outcome per
 * worker) and `upload_file` (a file kept here and given to every worker,
 * now and whenever one joins).
 */
import { DistributedError } from '../../lib/errors.js';
import { inboxHandlers, type Peer } from '../../lib/comm/mailbox.js';
import { serializeError } from '../../lib/protocol/errors.js';
import type { Blob, RunReply, SchedulerInbox } from '../../lib/protocol/messages.js';
import { checkUploadName } from '../../lib/uploads.js';
import { isBlob, optionalStrings } from './checks.js';
import type { SchedulerExtension, SchedulerHost } from './host.js';

export function createBroadcastExtension(host: SchedulerHost): SchedulerExtension {
  /** Files from client.uploadFile, given to every worker that registers. */
  const uploads = new Map<string, Blob>();

  return {
    handlers: inboxHandlers<SchedulerInbox>({
      'broadcast-run': async (msg) => {
        const fn: unknown = msg.fn;
        if (typeof fn !== 'object' || fn === null) throw new DistributedError('broadcast-run: fn is required');
        if (!isBlob(msg.args)) throw new DistributedError('broadcast-run: args must be a Blob');
        const targets = host.state.selectWorkers(optionalStrings(msg.workers, 'workers', 'broadcast-run'));
        const results: Record<string, RunReply> = {};
        await Promise.all(
          targets.map(async (ws) => {
            const peer = host.workerPeers.get(ws.address);
            try {
              if (peer === undefined) throw new DistributedError(`${ws.address} is not connected`);
              results[ws.address] = await peer.call<RunReply>({ op: 'run', fn: msg.fn, args: msg.args });
            } catch (error) {
              results[ws.address] = { ok: false, error: serializeError(error) };
            }
          }),
        );
        return results;
      },
      upload_file: async (msg) => {
        const filename = checkUploadName(msg.filename);
        const data: unknown = msg.data;
        if (!isBlob(data)) throw new DistributedError('upload_file: data must be bytes');
        uploads.set(filename, data);
        const targets = [...host.workerPeers];
        const outcomes = await Promise.allSettled(targets.map(([, peer]) => peer.call({ op: 'upload_file', filename, data }, { timeout: '30s' })));
        const failed = outcomes.findIndex((outcome) => outcome.status === 'rejected');
        if (failed >= 0) {
          const reason = (outcomes[failed] as PromiseRejectedResult).reason as Error;
          throw new DistributedError(`upload_file: could not write ${filename} on ${targets[failed]![0]}: ${reason.message}`, { cause: reason });
        }
        return { status: 'OK', workers: targets.map(([address]) => address) };
      },
    }),
    workerAdded(_address: string, peer: Peer) {
      // Before any compute-task on the same connection: a task may import an uploaded module.
      for (const [filename, data] of uploads) peer.send({ op: 'upload_file', filename, data });
    },
  };
}
