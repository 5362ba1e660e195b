/** Checks of op fields shared by the scheduler's handlers: a bad field is a clear DistributedError, never a crash. */
import { DistributedError } from '../../lib/errors.js';
import type { Blob } from '../../lib/protocol/messages.js';

export function requireString(value: unknown, field: string, op: string): string {
  if (typeof value !== 'string' || value === '') throw new DistributedError(`${op}: ${field} must be a non-empty string`);
  return value;
}

export function requireKeys(value: unknown, op: string): string[] {
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) throw new DistributedError(`${op}: keys must be an array of strings`);
  return value as string[];
}

export function optionalStrings(value: unknown, field: string, op: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) throw new DistributedError(`${op}: ${field} must be an array of strings`);
  return value as string[];
}

export function isBlob(value: unknown): value is Blob {
  return value instanceof Uint8Array;
}
