/**
 * For a client that owns its in-process cluster (nothing else keeps the
 * process alive): its scheduler connection holds the process only while
 * something is awaited and lets go when the client is idle, so a script ends
 * by itself once its work is done.
 */
import type { Peer } from '../comm/mailbox.js';

/** How often a busy client looks whether it is idle. */
const IDLE_CHECK_MS = 50;

export class ProcessHold {
  private timer: NodeJS.Timeout | undefined;
  private holding = true;

  /** `peer()`: the scheduler connection now; `idle()`: nothing pending and no call in flight. */
  constructor(private readonly peer: () => Peer | undefined, private readonly idle: () => boolean) {
    this.releaseIfIdle();
  }

  /** Something to wait for: hold the process, and look again now and then. */
  busy(): void {
    if (!this.holding) {
      this.holding = true;
      this.peer()?.ref();
    }
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.releaseIfIdle(), IDLE_CHECK_MS);
      this.timer.unref();
    }
  }

  /** Stops looking (the client closed). */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private releaseIfIdle(): void {
    if (!this.idle()) return;
    this.stop();
    if (this.holding) {
      this.holding = false;
      this.peer()?.unref();
    }
  }
}
