/**
 * What a client set up on the scheduler besides its keys and topics, kept to
 * set it up again on a scheduler that restarted (API.md "Surviving the
 * scheduler"): its worker plugins and uploaded files. A restarted scheduler
 * knows none of them, so workers joining after the restart would silently
 * lack them (dask #5125). Plugins are sent again with `restore: true`: workers
 * that kept a plugin through the restart are not asked to set it up twice.
 * Files are sent again as they were (a worker replaces its copy atomically).
 */
import type { OpDict } from '../protocol/messages.js';

export class SchedulerRegistrations {
  private readonly plugins = new Map<string, OpDict>();
  private readonly uploads = new Map<string, OpDict>();

  /** A `register-worker-plugin` message the scheduler accepted. */
  pluginRegistered(msg: OpDict): void {
    if (typeof msg.name === 'string') this.plugins.set(msg.name, msg);
  }

  pluginUnregistered(name: string): void {
    this.plugins.delete(name);
  }

  /** An `upload_file` message the scheduler accepted (the last one of a name wins, as on the workers). */
  fileUploaded(msg: OpDict): void {
    if (typeof msg.filename === 'string') this.uploads.set(msg.filename, msg);
  }

  /** What to send a scheduler that restarted: files first (a plugin's setup may import one), then plugins. */
  restoreMessages(): OpDict[] {
    return [...this.uploads.values(), ...[...this.plugins.values()].map((msg) => ({ ...msg, restore: true }))];
  }
}
