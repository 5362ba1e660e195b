/**
 * Files shipped with `client.uploadFile`. A worker process keeps them in one
 * directory, shared by the workers it hosts: `<tmpdir>/distributed-ts-<pid>-uploads`.
 * Because the path follows from the process id alone, a task on any thread
 * finds `remote('upload:<name>', 'export')` without asking its worker, and a
 * nanny can remove a dead child's directory.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DistributedError } from './errors.js';

/** `remote('upload:name.mjs', 'fn')` names an export of an uploaded module. */
export const UPLOAD_SCHEME = 'upload:';
const MAX_NAME_LENGTH = 200;

export function uploadDirectory(pid: number = process.pid): string {
  return join(tmpdir(), `distributed-ts-${pid}-uploads`);
}

/** A bare file name: no directories, no `..`, nothing hidden. */
export function checkUploadName(name: unknown): string {
  if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_LENGTH) {
    throw new DistributedError(`an uploaded file needs a name of 1 to ${MAX_NAME_LENGTH} characters, got ${JSON.stringify(name)}`);
  }
  if (name.includes('/') || name.includes('\\') || name.includes('\0') || name.startsWith('.')) {
    throw new DistributedError(`an uploaded file name must be a plain file name (no directories, not hidden), got ${JSON.stringify(name)}`);
  }
  return name;
}

export function uploadedFilePath(name: string, pid: number = process.pid): string {
  return join(uploadDirectory(pid), checkUploadName(name));
}

/** `upload:<name>` to the file: URL of this process's copy; any other URL unchanged. */
export function resolveUploadUrl(url: string): string {
  if (!url.startsWith(UPLOAD_SCHEME)) return url;
  return pathToFileURL(uploadedFilePath(url.slice(UPLOAD_SCHEME.length))).href;
}

/**
 * Inside a task: the module shipped with `client.uploadFile(path)` under its
 * file name (`'features.mjs'` or `'upload:features.mjs'`), as `import
 * features` does in dask after `upload_file`.
 *
 * @example
 * ```ts
 * await client.uploadFile('./features.mjs');
 * const task = async (row: number[]) => (await (await import('distributed-ts')).importUploaded('features.mjs')).extract(row);
 * ```
 */
export async function importUploaded<M = Record<string, unknown>>(name: string): Promise<M> {
  const bare = typeof name === 'string' && name.startsWith(UPLOAD_SCHEME) ? name.slice(UPLOAD_SCHEME.length) : name;
  const path = uploadedFilePath(bare);
  if (!existsSync(path)) {
    throw new DistributedError(`no uploaded file ${JSON.stringify(bare)} in this worker process (upload it with client.uploadFile first)`);
  }
  return (await import(pathToFileURL(path).href)) as M;
}

/** Writes the file atomically (a reader never sees half of it); returns its path. */
export function writeUpload(name: string, data: Uint8Array): string {
  const path = uploadedFilePath(name);
  mkdirSync(uploadDirectory(), { recursive: true });
  const partial = `${path}.${process.pid}.${Date.now()}.partial`;
  writeFileSync(partial, data);
  renameSync(partial, path);
  return path;
}

let holders = 0;

/** A worker in this process may receive uploads: keep the directory while any such worker lives. */
export function holdUploads(): () => void {
  holders++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) removeUploads(process.pid);
  };
}

export function removeUploads(pid: number): void {
  try {
    rmSync(uploadDirectory(pid), { recursive: true, force: true });
  } catch {
    // best effort: a temp directory
  }
}
