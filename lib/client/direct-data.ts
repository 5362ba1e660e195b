/**
 * A client moving large values to and from workers itself, as dask clients do
 * when they can reach the workers, instead of through the scheduler, which
 * would receive and forward every byte. Fetching (`get_data`): the scheduler's
 * `gather` names the holders (`direct`). Scattering (`update_data`): the
 * scheduler's `scatter-plan` says which worker gets which key, and the client
 * reports with `scatter-placed`. Whatever fails here (a worker unreachable
 * from this client, gone, or busy for too long) is left for the caller to
 * move through the scheduler.
 */
import { MessageTooLargeError } from '../errors.js';
import { MailboxActor, type Handler, type Peer } from '../comm/mailbox.js';
import { childLogger } from '../logging.js';
import type { Blob, GetDataReply } from '../protocol/messages.js';
import { fetchFromHolders, type FetchedValues } from '../comm/fetch-from-holders.js';
import type { FrameParts } from '../protocol/out-of-band.js';
import { placeByPlan } from '../protocol/direct-transfer.js';
import type { Security } from '../comm/security.js';

/** Connecting to a worker, and each get_data or update_data call, give up after this long (ms). */
const DIRECT_TIMEOUT_MS = 10_000;
/** A busy worker (too many transfers at once) is asked again after 20, 40, 80 ms, then left to the scheduler. */
const BUSY_RETRIES = 3;
const BUSY_FIRST_DELAY_MS = 20;

/** Connections to workers for get_data only: nothing arrives on them unasked. */
class WorkerConnections extends MailboxActor {
  protected readonly handlers: Readonly<Record<string, Handler>> = {};
  private readonly byAddress = new Map<string, Promise<Peer>>();

  constructor(clientId: string, security: Security | undefined) {
    super('client-data', { logger: childLogger('client-data', { client: clientId }), security });
  }

  peerFor(address: string): Promise<Peer> {
    let peer = this.byAddress.get(address);
    if (peer === undefined) {
      peer = this.connect(address, { timeout: DIRECT_TIMEOUT_MS });
      this.byAddress.set(address, peer);
      peer.catch(() => this.byAddress.delete(address));
    }
    return peer;
  }

  protected override onPeerClosed(peer: Peer): void {
    for (const [address, pending] of this.byAddress) {
      void pending.then((open) => {
        if (open === peer && this.byAddress.get(address) === pending) this.byAddress.delete(address);
      }, () => undefined);
    }
  }
}

export class DirectData {
  private readonly connections: WorkerConnections;

  constructor(private readonly clientId: string, security?: Security) {
    this.connections = new WorkerConnections(clientId, security);
  }

  /**
   * Fetches each key from one of its holders (in the order given), one call
   * per worker at a time (lib/comm/fetch-from-holders.ts). Returns what
   * arrived and the keys no holder gave.
   */
  fetch(holders: Readonly<Record<string, readonly string[]>>): Promise<FetchedValues> {
    return fetchFromHolders(Object.keys(holders), {
      holders: (key) => holders[key] ?? [],
      getData: (address, keys) => this.getData(address, keys),
      busyRetries: BUSY_RETRIES,
      busyFirstDelayMs: BUSY_FIRST_DELAY_MS,
    });
  }

  /**
   * Sends each worker of `plan` its keys' values (`update_data`), all workers
   * at once. Returns where each key was placed, and the keys no worker took.
   */
  async put(plan: Readonly<Record<string, readonly string[]>>, data: Readonly<Record<string, Blob | FrameParts>>): Promise<{ placed: Map<string, string[]>; failed: string[] }> {
    const placed = await placeByPlan(plan, data, async (address, subset) => {
      try {
        const peer = await this.connections.peerFor(address);
        await peer.call({ op: 'update_data', data: subset }, { timeout: DIRECT_TIMEOUT_MS });
      } catch (error) {
        this.connections.log.debug({ err: error, worker: address }, 'direct update_data failed; the scheduler will place the data');
        throw error;
      }
    });
    return { placed, failed: Object.keys(data).filter((key) => !placed.has(key)) };
  }

  /** One get_data call to `address`; undefined when it could not be made. */
  private async getData(address: string, keys: string[]): Promise<GetDataReply | undefined> {
    try {
      const peer = await this.connections.peerFor(address);
      return await peer.call<GetDataReply>({ op: 'get_data', keys, who: this.clientId }, { timeout: DIRECT_TIMEOUT_MS });
    } catch (error) {
      // Too large for one message: the scheduler could not relay it either, so say so.
      if (error instanceof MessageTooLargeError) throw error;
      this.connections.log.debug({ err: error, worker: address }, 'direct get_data failed; the scheduler will fetch');
      return undefined;
    }
  }

  close(): Promise<void> {
    return this.connections.close();
  }
}
