/**
 * What a client set up on the scheduler besides its keys and topics, kept to
 * set it up again on a scheduler that restarted (API.md "Surviving the
 * scheduler"): its worker plugins. A restarted scheduler knows none of them,
 * so workers joining after the restart would silently lack them (dask #5125).
 * They are sent again with `restore: true`: workers that kept a plugin through
 * the restart are not asked to set it up twice.
 */
import type { OpDict } from '../protocol/messages.js';

export class SchedulerRegistrations {
  private readonly plugins = new Map<string, OpDict>();

  /** A `register-worker-plugin` message the scheduler accepted. */
  pluginRegistered(msg: OpDict): void {
    if (typeof msg.name === 'string') this.plugins.set(msg.name, msg);
  }

  pluginUnregistered(name: string): void {
    this.plugins.delete(name);
  }

  /** What to send a scheduler that restarted, in registration order. */
  restoreMessages(): OpDict[] {
    return [...this.plugins.values()].map((msg) => ({ ...msg, restore: true }));
  }
}
