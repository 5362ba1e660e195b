/**
 * client.registerWorkerPlugin: the class goes by source (as actor classes
 * do); a last argument `{ name }` (a plain object with only that key) names
 * the plugin, otherwise the class name does.
 */
import { deserializeError } from '../protocol/errors.js';
import type { OpDict, SerializedError } from '../protocol/messages.js';
import { isPlainObject } from './arguments.js';
import { encodeArguments, shipFunction, type TaskFunction } from './task-spec.js';

export type PluginReply = Record<string, { status: string; error?: SerializedError }>;

export function registerPluginMessage(plugin: TaskFunction, argsAndOptions: readonly unknown[]): OpDict {
  if (typeof plugin !== 'function') throw new TypeError('registerWorkerPlugin: pass the plugin class (it is sent by source and constructed on each worker)');
  const last = argsAndOptions.at(-1);
  const isOptions =
    typeof last === 'object' && last !== null && isPlainObject(last) && Object.keys(last).length === 1 && typeof last.name === 'string';
  const args = isOptions ? argsAndOptions.slice(0, -1) : [...argsAndOptions];
  const name = isOptions ? (last.name as string) : plugin.name;
  if (typeof name !== 'string' || name === '') throw new TypeError('registerWorkerPlugin: an anonymous class needs { name }');
  const shipped = shipFunction(plugin);
  return { op: 'register-worker-plugin', name, fn: shipped.ref, args: encodeArguments(shipped, args) };
}

/** The reply, or the first worker's setup error thrown. */
export function checkPluginReply(reply: PluginReply): PluginReply {
  for (const outcome of Object.values(reply)) if (outcome.status !== 'OK' && outcome.error !== undefined) throw deserializeError(outcome.error);
  return reply;
}
