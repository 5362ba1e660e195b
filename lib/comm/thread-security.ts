/**
 * A worker's TLS credentials handed to its task threads in `workerData`, so
 * that code in a task (getClient(), an actor call) dials tls:// as the worker does.
 */
import { adoptServerSecurity } from './program-security.js';
import { Security, type SecurityPems } from './security.js';

export type { SecurityPems };

export const THREAD_SECURITY = 'distributed-ts:security';

/** In a thread: adopt the credentials found in `workerData`, if any. */
export function adoptThreadSecurity(workerData: unknown): void {
  if (typeof workerData !== 'object' || workerData === null || !(THREAD_SECURITY in workerData)) return;
  adoptServerSecurity(Security.fromPems((workerData as Record<string, SecurityPems>)[THREAD_SECURITY]!));
}
