/** Checks of op fields shared by the scheduler's handlers: a bad field is a clear DistributedError, never a crash. */
import { DistributedError } from '../../lib/errors.js';
import type { Blob, HeldBlob } from '../../lib/protocol/messages.js';
import { FrameParts } from '../../lib/protocol/out-of-band.js';

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

/** A Blob, or a large binary scattered in this process and passed on by reference (HeldBlob). */
export function isHeldBlob(value: unknown): value is HeldBlob {
  return value instanceof Uint8Array || value instanceof FrameParts;
}
