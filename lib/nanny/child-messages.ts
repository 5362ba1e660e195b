/** What a nanny and its worker child process say over the IPC channel. */
import type { SecurityPems } from '../comm/security.js';
import type { SerializedError } from '../protocol/messages.js';

export interface WorkerChildConfig {
  schedulerAddress: string;
  nannyAddress?: string;
  nthreads?: number;
  name?: string;
  resources?: Record<string, number>;
  memoryLimit?: number;
  host?: string;
  listenAddress?: string;
  preload: string[];
  /** Milliseconds one attempt to reach and register with the scheduler may take. */
  connectTimeout?: number;
  /** Milliseconds the scheduler may stay unreachable (at start, or after losing it) before the worker gives up. */
  deathTimeout?: number;
  /** The retry back-off toward the scheduler. */
  reconnectBackoff?: { baseMs?: number; maxMs?: number; factor?: number; jitter?: number };
  /** Report process.memoryUsage().rss this often (ms) where the nanny cannot read /proc; 0 = never. */
  reportMemoryMs: number;
  /** The nanny's TLS credentials (over the IPC channel, never argv or env). */
  security?: SecurityPems;
}

export type NannyToChild =
  | { type: 'start'; config: WorkerChildConfig }
  | { type: 'stop'; reason: string }
  | { type: 'pause'; rss: number; limit: number }
  | { type: 'unpause' };

export type ChildToNanny =
  /** `baseline`: the worker's resident bytes at start, what its memory limit is counted above (lib/worker/process-memory.ts). */
  | { type: 'started'; address: string; pid: number; baseline?: number }
  /** The baseline measured again once the worker's pool threads were up. */
  | { type: 'memory-baseline'; baseline: number }
  | { type: 'start-failed'; error: SerializedError }
  | { type: 'memory'; rss: number }
  /** The worker closed by itself (told to by the scheduler, or it lost the scheduler). */
  | { type: 'worker-closed'; reason: string; schedulerLost?: boolean };

export function isChildToNanny(value: unknown): value is ChildToNanny {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

export function isNannyToChild(value: unknown): value is NannyToChild {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}
