/**
 * The scheduler's registry of worker plugins (client.registerWorkerPlugin):
 * each is a class by source (a FunctionRef, never run here) and its encoded
 * constructor arguments, by name. Registering sends `plugin-add` to every
 * connected worker and answers with each worker's outcome; a worker that
 * registers later gets every plugin before any task (workerJoined). The same
 * name again replaces the plugin everywhere (workers tear the old one down).
 *
 * After a scheduler restart the registry is empty: clients send their plugins
 * again with `restore: true`, and workers re-registering say which plugins
 * they run (`plugins`). A restored plugin goes only to workers without it, so
 * a worker that kept its plugin through the restart does not set it up twice.
 */
import type { Peer } from '../comm/mailbox.js';
import type { ExtensionHandler, SchedulerExtension } from '../coordination/extension.js';
import type { Blob, FunctionRef, OpDict, SerializedError } from '../protocol/messages.js';
import { serializeError } from '../protocol/errors.js';

export type PluginOutcome = { status: 'OK' } | { status: 'error'; error: SerializedError };

export interface WorkerPluginsHost {
  /** Connected workers by address. */
  workers(): Iterable<[string, Peer]>;
}

interface Registered {
  fn: FunctionRef;
  args: Blob;
}

const PLUGIN_CALL_TIMEOUT = '60s';

export interface WorkerPluginsExtension extends SchedulerExtension {
  /** Sends every registered plugin a worker that just registered does not run yet (in order, before its tasks). */
  workerJoined(peer: Peer, address: string, running?: readonly string[]): void;
  workerLeft(address: string): void;
  names(): string[];
}

export function createWorkerPluginsExtension(host: WorkerPluginsHost): WorkerPluginsExtension {
  const registry = new Map<string, Registered>();
  /** Plugins each worker said it runs when it registered (after a scheduler restart). */
  const running = new Map<string, Set<string>>();

  async function broadcast(msg: OpDict, skip?: (address: string) => boolean): Promise<Record<string, PluginOutcome>> {
    const outcomes: Record<string, PluginOutcome> = {};
    await Promise.all(
      [...host.workers()].filter(([address]) => skip?.(address) !== true).map(async ([address, peer]) => {
        try {
          outcomes[address] = await peer.call<PluginOutcome>(msg, { timeout: PLUGIN_CALL_TIMEOUT });
        } catch (error) {
          outcomes[address] = { status: 'error', error: serializeError(error) };
        }
      }),
    );
    return outcomes;
  }

  const handlers: Record<string, ExtensionHandler> = {
    'register-worker-plugin'(msg) {
      const name = msg.name;
      if (typeof name !== 'string' || name === '') throw new TypeError("register-worker-plugin: 'name' must be a non-empty string");
      if (typeof msg.fn !== 'object' || msg.fn === null) throw new TypeError("register-worker-plugin: 'fn' is required");
      if (!(msg.args instanceof Uint8Array)) throw new TypeError("register-worker-plugin: 'args' must be bytes");
      const entry: Registered = { fn: msg.fn as FunctionRef, args: msg.args };
      registry.set(name, entry);
      // A client restoring its plugin after a restart: workers that kept it are not asked again.
      const skip = msg.restore === true ? (address: string) => running.get(address)?.has(name) === true : undefined;
      if (msg.restore !== true) for (const names of running.values()) names.delete(name);
      return broadcast({ op: 'plugin-add', name, fn: entry.fn, args: entry.args }, skip).then((outcomes) => {
        // The client gets the setup error; a plugin that failed is not handed to new workers either.
        if (Object.values(outcomes).some((o) => o.status !== 'OK') && registry.get(name) === entry) registry.delete(name);
        return outcomes;
      });
    },
    async 'unregister-worker-plugin'(msg) {
      const name = String(msg.name);
      if (!registry.delete(name)) throw new TypeError(`unregister-worker-plugin: no worker plugin named ${JSON.stringify(name)}`);
      for (const names of running.values()) names.delete(name);
      await broadcast({ op: 'plugin-remove', name });
      return { status: 'OK' };
    },
  };

  return {
    handlers,
    workerJoined(peer: Peer, address: string, kept: readonly string[] = []): void {
      const has = new Set(kept);
      if (has.size > 0) running.set(address, has);
      else running.delete(address);
      for (const [name, { fn, args }] of registry) if (!has.has(name)) peer.send({ op: 'plugin-add', name, fn, args });
    },
    workerLeft(address: string): void {
      running.delete(address);
    },
    names: () => [...registry.keys()],
  };
}
