/**
 * The compute-task message that hands a task to a worker: its recipe and
 * priority, and where each dependency is held (and how big it is) so the
 * worker can fetch what it lacks.
 */
import type { OpDict } from '../protocol/messages.js';
import type { TaskRecord } from './records.js';

const EMPTY_RECORD: Readonly<Record<string, never>> = Object.freeze({});

export function computeTaskMsg(ts: TaskRecord, stimulusId: string): OpDict {
  const deps = ts.dependencies;
  let whoHas: Record<string, string[]> = EMPTY_RECORD;
  let nbytes: Record<string, number> = EMPTY_RECORD;
  if (deps.length > 0) {
    // Keyed by task keys: null-prototype objects skip V8's per-new-key hidden classes.
    whoHas = Object.create(null) as Record<string, string[]>;
    nbytes = Object.create(null) as Record<string, number>;
    for (let i = 0; i < deps.length; i++) {
      const dep = deps[i]!;
      const holders: string[] = [];
      const on = dep.whoHas;
      if (on instanceof Set) for (const h of on) holders.push(h.address);
      else if (on !== undefined) holders.push(on.address);
      whoHas[dep.key] = holders;
      nbytes[dep.key] = dep.nbytes;
    }
  }
  const msg: OpDict = {
    op: 'compute-task',
    key: ts.key,
    runId: ts.runId,
    runSpec: ts.runSpec,
    whoHas,
    nbytes,
    priority: ts.priority,
    stimulusId,
  };
  const resources = ts.restrictions?.resources;
  if (resources !== undefined) msg.resources = resources;
  return msg;
}
