/**
 * What a worker says to its scheduler, kept while there is no scheduler to
 * say it to: between losing the connection and registering again, messages
 * (a pause, a task that erred, keys fetched) wait here in order and go out on
 * the new connection right after the registration, before anything newer.
 * Dropping them (dask's BatchedSend after a broken comm, #5457) leaves the
 * new scheduler with a wrong picture: a worker it thinks running is paused.
 */
import type { Logger } from 'pino';
import type { Outgoing } from '../protocol/messages.js';

/** The connection the messages go out on (a mailbox Peer). */
export interface SchedulerLink {
  readonly closed: boolean;
  send(msg: Outgoing): void;
}

/** Past this many waiting messages the oldest are dropped (a worker far away for long; each is logged once in a count). */
export const MAX_HELD_BACK = 100_000;

export class SchedulerOutbox {
  private link: SchedulerLink | undefined;
  private waiting: Outgoing[] = [];
  private dropped = 0;

  constructor(
    private readonly log: Logger,
    private readonly limit = MAX_HELD_BACK,
  ) {}

  /** Messages waiting for a scheduler. */
  get size(): number {
    return this.waiting.length;
  }

  /** Sends now when connected; otherwise keeps `msg` for the next connection. */
  send(msg: Outgoing): void {
    const link = this.link;
    if (link !== undefined && !link.closed && this.waiting.length === 0) {
      link.send(msg);
      return;
    }
    if (this.waiting.length >= this.limit) {
      this.waiting.shift();
      if (this.dropped++ === 0) this.log.warn({ limit: this.limit }, 'too many messages waiting for the scheduler: dropping the oldest');
    }
    this.waiting.push(msg);
  }

  /** The connection went away: keep everything from now on. */
  lost(): void {
    this.link = undefined;
  }

  /**
   * Registered on `link`: what waited goes first, in order, then `send`
   * writes straight through again. Returns how many messages waited.
   */
  connected(link: SchedulerLink): number {
    this.link = link;
    const waiting = this.waiting;
    this.waiting = [];
    for (const msg of waiting) link.send(msg);
    if (this.dropped > 0) this.log.warn({ dropped: this.dropped }, `${this.dropped} message(s) for the scheduler were dropped while it was away`);
    this.dropped = 0;
    return waiting.length;
  }

  /** Closing: nothing more will be sent. */
  clear(): void {
    this.link = undefined;
    this.waiting = [];
  }
}
