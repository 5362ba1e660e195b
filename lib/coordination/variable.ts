/**
 * Cluster-wide variable holding one small value or Future. A Future stays
 * alive while the variable holds it; replacing or deleting lets it go.
 */
import type { CoordinationItem, VariableGetMsg, VariableSetMsg } from '../protocol/messages.js';
import { fromItem, toItem } from './coordination-client.js';
import { PrimitiveHandle, type PrimitiveOptions, type TimeoutOption, type WaitReply, timeoutMs } from './primitive-handle.js';

/**
 * A cluster-wide named value held by the scheduler; it may be a Future, which
 * stays alive while set.
 *
 * @example
 * ```ts
 * const threshold = new Variable<number>('threshold');
 * await threshold.set(0.5);
 * console.log(await threshold.get());   // 0.5
 * ```
 */
export class Variable<T = unknown> extends PrimitiveHandle {
  constructor(name?: string, options: PrimitiveOptions = {}) {
    super('variable', name, options);
  }

  async set(value: T): Promise<void> {
    const msg: VariableSetMsg = { op: 'variable_set', name: this.name, holder: this.client.id, item: toItem(this.client, value) };
    await this.call(msg);
  }

  /** The value; waits until the first `set`. Rejects with TimeoutError after `timeout`. */
  async get(options: TimeoutOption = {}): Promise<T> {
    const msg: VariableGetMsg = { op: 'variable_get', name: this.name, holder: this.client.id };
    const timeout = timeoutMs(options);
    if (timeout !== undefined) msg.timeout = timeout;
    const reply = this.unwrap(
      await this.call<WaitReply<{ item: CoordinationItem }>>(msg),
      `get on variable ${JSON.stringify(this.name)}`,
      timeout,
    );
    return fromItem(this.client, reply.item) as T;
  }

  async delete(): Promise<void> {
    await this.call({ op: 'variable_delete', name: this.name });
  }
}
