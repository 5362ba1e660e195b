/**
 * The scheduler's registry of worker plugins (client.registerWorkerPlugin):
 * each is a class by source (a FunctionRef, never run here) and its encoded
 * constructor arguments, by name. Registering sends `plugin-add` to every
 * connected worker and answers with each worker's outcome; a worker that
 * registers later gets every plugin before any task (workerJoined). The same
 * name again replaces the plugin everywhere (workers tear the old one down).
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
  /** Sends every registered plugin to a worker that just registered (in order, before its tasks). */
  workerJoined(peer: Peer): void;
  names(): string[];
}

export function createWorkerPluginsExtension(host: WorkerPluginsHost): WorkerPluginsExtension {
  const registry = new Map<string, Registered>();

  async function broadcast(msg: OpDict): Promise<Record<string, PluginOutcome>> {
    const outcomes: Record<string, PluginOutcome> = {};
    await Promise.all(
      [...host.workers()].map(async ([address, peer]) => {
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
      return broadcast({ op: 'plugin-add', name, fn: entry.fn, args: entry.args }).then((outcomes) => {
        // The client gets the setup error; a plugin that failed is not handed to new workers either.
        if (Object.values(outcomes).some((o) => o.status !== 'OK') && registry.get(name) === entry) registry.delete(name);
        return outcomes;
      });
    },
    async 'unregister-worker-plugin'(msg) {
      const name = String(msg.name);
      if (!registry.delete(name)) throw new TypeError(`unregister-worker-plugin: no worker plugin named ${JSON.stringify(name)}`);
      await broadcast({ op: 'plugin-remove', name });
      return { status: 'OK' };
    },
  };

  return {
    handlers,
    workerJoined(peer: Peer): void {
      for (const [name, { fn, args }] of registry) peer.send({ op: 'plugin-add', name, fn, args });
    },
    names: () => [...registry.keys()],
  };
}
