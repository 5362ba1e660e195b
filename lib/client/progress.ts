/**
 * `progress(futures)`: a text progress bar that resolves once every future
 * is done (finished, erred or cancelled). On a TTY the bar is redrawn in place
 * (`[###!    ] | 40% Completed | 3/10 | 1 erred | 1.2s`, erred in red); on anything else a plain line is
 * written now and then (at most once a second) and once at the end.
 */
import { performance } from 'node:perf_hooks';
import { stateOf, type Future } from './future.js';
import type { FutureState } from './future-state.js';
import { futuresIn } from './gather-shapes.js';

/**
 * Options of `progress(futures, ...)`: where and how wide to draw.
 */
export interface ProgressOptions {
  /** Where to draw (default process.stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Characters inside the brackets (default 40). */
  width?: number;
}

/** How the futures stand: finished, erred (or cancelled), out of `total`. */
export interface ProgressCounts {
  finished: number;
  erred: number;
  total: number;
}

/**
 * One line of the bar: `[####!!    ] | 60% Completed | 4/10 | 2 erred | 1.2s`.
 * Finished tasks fill with `#`, erred or cancelled ones with `!` (red on a
 * terminal, as dask draws them); `n/N` counts the finished ones, and the
 * erred count appears only when there are some.
 */
export function renderProgressBar(counts: ProgressCounts, elapsedMs: number, width = 40, color = false): string {
  const { finished, erred, total } = counts;
  const settled = finished + erred;
  const fraction = total === 0 ? 1 : Math.min(1, settled / total);
  const filled = Math.floor(fraction * width);
  const bad = total === 0 ? 0 : Math.min(filled, Math.ceil((erred / total) * width));
  const good = filled - bad;
  const percent = Math.floor(fraction * 100);
  const badBar = '!'.repeat(bad);
  const bar = `${'#'.repeat(good)}${color && bad > 0 ? `\x1b[31m${badBar}\x1b[0m` : badBar}${' '.repeat(width - filled)}`;
  const erredText = erred > 0 ? ` | ${color ? `\x1b[31m${erred} erred\x1b[0m` : `${erred} erred`}` : '';
  return `[${bar}] | ${percent}% Completed | ${finished}/${total}${erredText} | ${formatElapsed(elapsedMs)}`;
}

function formatElapsed(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}min ${(seconds - minutes * 60).toFixed(0).padStart(2, '0')}s`;
}

const redrawEveryMs = 100;
const plainLineEveryMs = 1000;

/**
 * Draws a progress bar of the futures (a line per second when not on a TTY)
 * and resolves when all are done.
 *
 * @example
 * ```ts
 * const futures = client.map(process, items);
 * await progress(futures);   // [########                        ] | 25% Completed | 1.2s
 * ```
 */
export async function progress(futures: Future<unknown> | Iterable<Future<unknown>>, options: ProgressOptions = {}): Promise<void> {
  const stream = options.stream ?? process.stdout;
  const width = options.width ?? 40;
  const tty = stream.isTTY === true;
  const states = [...new Set(futuresIn(futures).map((future) => stateOf(future)))];
  const total = states.length;
  const started = performance.now();
  const counts: ProgressCounts = { finished: 0, erred: 0, total };
  const count = (state: FutureState): void => {
    if (state.status === 'finished') counts.finished++;
    else counts.erred++;
  };
  for (const state of states) if (state.done) count(state);
  const allDone = (): boolean => counts.finished + counts.erred === total;
  let lastLine = '';
  let lastPlainWrite = -Infinity;

  const draw = (final: boolean): void => {
    const now = performance.now();
    const line = renderProgressBar(counts, now - started, width, tty);
    if (tty) {
      stream.write(`\r${line}${final ? '\n' : ''}`);
    } else if (final || (now - lastPlainWrite >= plainLineEveryMs && line !== lastLine)) {
      stream.write(`${line}\n`);
      lastPlainWrite = now;
    }
    lastLine = line;
  };

  draw(allDone());
  if (allDone()) return;
  const closed = states.find((state) => !state.done && state.closedError !== undefined);
  if (closed !== undefined) throw closed.closedError;

  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => draw(false), tty ? redrawEveryMs : plainLineEveryMs);
    const unsubscribe: Array<() => void> = [];
    const stop = (error?: Error): void => {
      clearInterval(timer);
      for (const off of unsubscribe) off();
      if (error !== undefined) reject(error);
      else resolve();
    };
    const watch = (state: FutureState): void => {
      unsubscribe.push(
        state.onSettled(() => {
          if (!state.done) {
            stop(state.closedError);
            return;
          }
          count(state);
          if (allDone()) {
            draw(true);
            stop();
          }
        }),
      );
    };
    for (const state of states) if (!state.done) watch(state);
  });
}
