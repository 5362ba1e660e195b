/**
 * An async iterable that reads its source ahead of its consumer: items are
 * pulled as soon as they arrive and turned into outputs at once (for
 * `client.map` over a stream: submitted), so work overlaps however slowly the
 * consumer takes them. Back-pressure: once `highWater` outputs wait untaken,
 * the source is not read again until the consumer takes one.
 *
 * The source is first read when the consumer first asks (`next()`), as any
 * async iterator. Ending early (`return()`, e.g. `break` in `for await`)
 * stops reading, hands the untaken outputs to `discard`, and closes the source.
 */

/** Outputs waiting untaken before the source is paused. */
export const READ_AHEAD_HIGH_WATER = 256;

export interface ReadAheadOptions<Out> {
  /** Default READ_AHEAD_HIGH_WATER. */
  highWater?: number;
  /** Outputs made but never taken, when the consumer ends early. */
  discard?: (outputs: Out[]) => void;
}

interface Waiter<Out> {
  resolve: (result: IteratorResult<Out, undefined>) => void;
  reject: (error: unknown) => void;
}

export class ReadAhead<In, Out> implements AsyncIterableIterator<Out, undefined> {
  /** Items read from the source so far (for observing back-pressure). */
  read = 0;
  private readonly ready: Out[] = [];
  private readyHead = 0;
  private readonly waiters: Waiter<Out>[] = [];
  private reading = false;
  private started = false;
  private ended = false;
  private failure: { error: unknown } | undefined;
  private readonly highWater: number;

  constructor(
    private readonly source: AsyncIterator<In>,
    private readonly make: (item: In) => Out,
    private readonly options: ReadAheadOptions<Out> = {},
  ) {
    this.highWater = Math.max(1, options.highWater ?? READ_AHEAD_HIGH_WATER);
  }

  /** Outputs made and not taken yet. */
  get waiting(): number {
    return this.ready.length - this.readyHead;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Out, undefined>> {
    this.started = true;
    if (this.waiting > 0) {
      const value = this.take();
      this.readMore();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) {
      const { error } = this.failure;
      this.failure = undefined;
      this.ended = true;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    const result = new Promise<IteratorResult<Out, undefined>>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.readMore();
    return result;
  }

  async return(): Promise<IteratorResult<Out, undefined>> {
    const untaken = this.ready.slice(this.readyHead);
    this.ready.length = 0;
    this.readyHead = 0;
    const wasEnded = this.ended;
    this.ended = true;
    this.failure = undefined;
    this.settleWaiters();
    if (untaken.length > 0) this.options.discard?.(untaken);
    if (!wasEnded) await this.source.return?.();
    return { value: undefined, done: true };
  }

  private take(): Out {
    const value = this.ready[this.readyHead]!;
    this.ready[this.readyHead++] = undefined as Out;
    if (this.readyHead === this.ready.length) {
      this.ready.length = 0;
      this.readyHead = 0;
    }
    return value;
  }

  private readMore(): void {
    if (this.reading || this.ended || this.failure !== undefined || !this.started) return;
    this.reading = true;
    void this.readLoop();
  }

  private async readLoop(): Promise<void> {
    try {
      while (!this.ended && this.waiting < this.highWater) {
        const step = await this.source.next();
        if (this.ended) break;
        if (step.done === true) {
          this.ended = true;
          break;
        }
        this.read++;
        const output = this.make(step.value);
        const waiter = this.waiters.shift();
        if (waiter !== undefined) waiter.resolve({ value: output, done: false });
        else this.ready.push(output);
      }
    } catch (error) {
      if (!this.ended) {
        // Outputs already made are taken first; the error comes after them.
        this.failure = { error };
        void Promise.resolve(this.source.return?.()).catch(() => undefined);
      }
    } finally {
      this.reading = false;
    }
    this.settleWaiters();
  }

  /** Answers waiting `next()` calls once nothing more will come for them. */
  private settleWaiters(): void {
    while (this.waiters.length > 0 && this.waiting === 0) {
      const waiter = this.waiters.shift()!;
      if (this.failure !== undefined) {
        const { error } = this.failure;
        this.failure = undefined;
        this.ended = true;
        waiter.reject(error);
      } else if (this.ended) {
        waiter.resolve({ value: undefined, done: true });
      } else {
        this.waiters.unshift(waiter);
        return;
      }
    }
  }
}
