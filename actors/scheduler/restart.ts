/**
 * `restart` (client.restart()) and `terminate` (client.shutdown()): the
 * whole cluster at once. A restart cancels every client's futures, forgets
 * every task, gives each worker a new process through its nanny (a worker in
 * the scheduler's own process is replaced by its LocalCluster; any other is
 * closed) and answers once as many workers as before are registered.
 * Terminate closes every worker (through its nanny, which would otherwise
 * start a new one) and then the scheduler.
 */
import { DistributedError, TimeoutError } from '../../lib/errors.js';
import { inboxHandlers } from '../../lib/comm/mailbox.js';
import type { SchedulerInbox } from '../../lib/protocol/messages.js';
import { parseDuration } from '../../lib/units.js';
import type { SchedulerExtension, SchedulerHost } from './host.js';

/** Workers running in the scheduler's own process, which their owner (a LocalCluster) can replace. */
export interface InProcessWorkers {
  owns(address: string): boolean;
  /** Closes the worker and starts a fresh one in its place; resolves once it is registered. */
  restart(address: string): Promise<void>;
}

export interface RestartOptions {
  /** How long a restart waits for the workers to come back (ms), unless the message says. */
  restartTimeout: number;
  /** The in-process workers' owner, if any (set by a LocalCluster after the scheduler started). */
  inProcessWorkers(): InProcessWorkers | undefined;
  /** Every task was forgotten: the other extensions drop what hung on them. */
  forgotten(): void;
}

export function createRestartExtension(host: SchedulerHost, options: RestartOptions): SchedulerExtension {
  let restarting = false;

  async function restart(timeout: number): Promise<{ status: 'OK'; workers: number }> {
    if (restarting) throw new DistributedError('restart: a restart is already under way');
    restarting = true;
    try {
      const { state } = host;
      const workers = [...state.running];
      const deadline = Date.now() + timeout;
      host.log.info({ workers: workers.length }, 'restarting: cancelling all work and restarting every worker');
      for (const peer of host.clientPeers.values()) if (!peer.closed) peer.send({ op: 'restart' });
      const stimulusId = state.nextStimulusId('restart');
      for (const cs of [...state.clients.values()]) {
        const keys = [...cs.wantsWhat].map((ts) => ts.key);
        if (keys.length > 0) host.sendOut(state.clientReleasesKeys(cs.id, keys, stimulusId));
      }
      options.forgotten();
      if (state.tasks.size > 0) host.log.warn({ tasks: state.tasks.size }, 'restart: tasks left after releasing every key');
      let withoutNanny = 0;
      const inProcess = options.inProcessWorkers();
      await Promise.all(
        workers.map(async (ws) => {
          if (ws.nanny !== undefined) {
            try {
              await host.callNanny(ws.nanny, { op: 'restart', reason: 'client restart' }, Math.max(1, deadline - Date.now()));
            } catch (error) {
              host.log.warn({ err: error, nanny: ws.nanny }, 'restart: the nanny could not restart its worker');
            }
          } else if (inProcess?.owns(ws.address) === true) {
            // A worker in this process (a LocalCluster of threads): its cluster replaces it.
            try {
              await inProcess.restart(ws.address);
            } catch (error) {
              host.log.warn({ err: error, worker: ws.address }, 'restart: could not replace an in-process worker');
            }
          } else {
            withoutNanny++;
            host.dropWorker(ws.address, true, stimulusId)?.send({ op: 'close', reason: 'restart' });
          }
          // The old process is gone by now; do not count it while waiting.
          if (state.workers.get(ws.address) === ws) void host.dropWorker(ws.address, true, stimulusId)?.close();
        }),
      );
      try {
        await host.workersAtLeast(workers.length, Math.max(0, deadline - Date.now()));
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
        throw new TimeoutError(
          `restart: waited ${timeout} ms for ${workers.length} workers to come back, but only ${state.running.length} did` +
            (withoutNanny > 0 ? ` (${withoutNanny} worker(s) without a nanny were closed, not restarted)` : ''),
        );
      }
      return { status: 'OK', workers: state.running.length };
    } finally {
      restarting = false;
    }
  }

  async function terminate(): Promise<'OK'> {
    await Promise.allSettled(
      [...host.workerPeers].map(([address, peer]) =>
        host.closeWorkerProcess(host.state.workers.get(address)?.nanny, peer, 'scheduler terminating', '5s'),
      ),
    );
    setImmediate(() => void host.close());
    return 'OK';
  }

  return {
    handlers: inboxHandlers<SchedulerInbox>({
      restart: (msg) => restart(msg.timeout === undefined || msg.timeout === null ? options.restartTimeout : parseDuration(msg.timeout)),
      terminate: () => terminate(),
    }),
  };
}
