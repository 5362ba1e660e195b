/**
 * What a scheduler restart looked like, as events on the 'recovery' topic
 * (lib/scheduler/events.ts), so that the dashboard's status page and
 * `client.getEvents('recovery')` say it, not only the logs: the state a
 * `--state-dir` brought back, each worker coming back with its keys (and how
 * many times it had to knock), each client winning the scheduler back. Pure:
 * message in, event out.
 */
import type { EventEntry } from './events.js';

export const RECOVERY_TOPIC = 'recovery';

/** How many recovery events the dashboard shows (the newest). */
export const RECOVERY_NOTES_SHOWN = 20;

/** What a peer that lost the scheduler says about its wait when it registers again. */
export interface ReconnectReport {
  /** Failed attempts before this one ("scheduler connection lost, retrying (n)"). */
  retries: number;
  /** Milliseconds from losing the scheduler to this registration. */
  awayMs: number;
}

/** `{ retries, awayMs }` from a register message's `reconnect` field; undefined when absent or malformed (it only feeds a report). */
export function parseReconnectReport(value: unknown): ReconnectReport | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { retries, awayMs } = value as { retries?: unknown; awayMs?: unknown };
  if (!(typeof retries === 'number' && Number.isInteger(retries) && retries >= 0)) return undefined;
  if (!(typeof awayMs === 'number' && Number.isFinite(awayMs) && awayMs >= 0)) return undefined;
  return { retries, awayMs };
}

/** An event of the recovery topic: what happened, with a sentence for people. */
export interface RecoveryEvent {
  action: 'restored-state' | 'state-lost' | 'worker-reregistered' | 'client-reconnected' | 'client-grace-started' | 'client-grace-expired';
  text: string;
  [field: string]: unknown;
}

const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function waited(report: ReconnectReport | undefined): string {
  if (report === undefined) return '';
  return ` after ${plural(report.retries, 'retry', 'retries')} (${seconds(report.awayMs)} without a scheduler)`;
}

export function restoredStateEvent(summary: string, counts: Record<string, number>): RecoveryEvent {
  return { action: 'restored-state', text: summary, ...counts };
}

export function stateLostEvent(client: string): RecoveryEvent {
  return {
    action: 'state-lost',
    client,
    text: `client ${client} came back after a scheduler restart: without --state-dir, the coordination primitives and published datasets from before it are lost`,
  };
}

export function workerReregisteredEvent(worker: string, keys: number, report: ReconnectReport | undefined): RecoveryEvent {
  return {
    action: 'worker-reregistered',
    worker,
    keys,
    ...(report === undefined ? {} : { retries: report.retries, awayMs: report.awayMs }),
    text: `worker ${worker} re-registered with ${plural(keys, 'key')}${waited(report)}`,
  };
}

export function clientReconnectedEvent(client: string, sameScheduler: boolean, report: ReconnectReport | undefined): RecoveryEvent {
  return {
    action: 'client-reconnected',
    client,
    sameScheduler,
    ...(report === undefined ? {} : { retries: report.retries, awayMs: report.awayMs }),
    text: `client ${client} reconnected${sameScheduler ? '' : ' to a restarted scheduler'}${waited(report)}`,
  };
}

export function clientGraceStartedEvent(client: string, graceMs: number, keys: number): RecoveryEvent {
  return {
    action: 'client-grace-started',
    client,
    graceMs,
    keys,
    text: `client ${client} lost its connection: its ${plural(keys, 'key')} and leases are kept ${seconds(graceMs)} for it to reconnect`,
  };
}

export function clientGraceExpiredEvent(client: string, graceMs: number): RecoveryEvent {
  return { action: 'client-grace-expired', client, graceMs, text: `client ${client} did not reconnect within ${seconds(graceMs)}: released` };
}

/** One line of the dashboard's recovery panel. */
export interface RecoveryNote {
  time: number;
  text: string;
}

/** The newest `limit` recovery events as dashboard lines, oldest first. */
export function recoveryNotes(entries: readonly EventEntry[], limit = RECOVERY_NOTES_SHOWN): RecoveryNote[] {
  const notes: RecoveryNote[] = [];
  for (const [time, msg] of entries.slice(-limit)) {
    const text = (msg as { text?: unknown } | null)?.text;
    notes.push({ time, text: typeof text === 'string' ? text : JSON.stringify(msg) });
  }
  return notes;
}
