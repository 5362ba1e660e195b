/**
 * The credentials this thread dials `tls://` addresses with when the caller
 * has none of its own: the scheduler's, worker's or nanny's started here
 * (the latest), else the first client's given one. Code that has no owner to
 * ask — an actor proxy decoded in a task, `getClient()` in a worker thread —
 * finds them here, as dask finds its security in the process-wide config.
 *
 * Only credentials come from here, never `requireEncryption`: a plain
 * cluster started later in the same program must still work.
 */
import type { Security } from './security.js';

let current: Security | undefined;
let fromServer = false;

/** A scheduler, worker or nanny started with `security`: it becomes the program's. */
export function adoptServerSecurity(security: Security): void {
  if (!security.hasCredentials) return;
  current = security;
  fromServer = true;
}

/** A client connected with `security`: the program's only if no server here has given one. */
export function adoptClientSecurity(security: Security): void {
  if (!security.hasCredentials || fromServer || current !== undefined) return;
  current = security;
}

export function programSecurity(): Security | undefined {
  return current;
}
