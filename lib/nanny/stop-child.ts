/**
 * Ending a child process for sure: ask politely over IPC, then SIGTERM, then
 * SIGKILL, each after a grace period. Resolves once the process has exited.
 */
import type { ChildProcess } from 'node:child_process';
import type { NannyToChild } from './child-messages.js';

export interface StopChildOptions {
  reason: string;
  /** Time for a clean close after the IPC `stop` (0 skips the polite step). */
  graceMs: number;
  /** Time between SIGTERM and SIGKILL. */
  termGraceMs?: number;
}

export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    child.once('exit', onExit);
  });
}

export async function stopChild(child: ChildProcess, options: StopChildOptions): Promise<void> {
  if (hasExited(child)) return;
  if (options.graceMs > 0 && child.connected) {
    const stop: NannyToChild = { type: 'stop', reason: options.reason };
    try {
      child.send(stop);
    } catch {
      // channel closing: fall through to signals
    }
    if (await waitForExit(child, options.graceMs)) return;
  }
  child.kill('SIGTERM');
  if (await waitForExit(child, options.termGraceMs ?? 1000)) return;
  child.kill('SIGKILL');
  await waitForExit(child, 5000);
}
