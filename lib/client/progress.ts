/**
 * `progress(futures)`: a text progress bar that resolves once every future
 * is done (finished, erred or cancelled). On a TTY the bar is redrawn in place
 * (`[####    ] | 40% Completed | 1.2s`); on anything else a plain line is
 * written now and then (at most once a second) and once at the end.
 */
import { performance } from 'node:perf_hooks';
import { stateOf, type Future } from './future.js';
import type { FutureState } from './future-state.js';
import { futuresIn } from './gather-shapes.js';

export interface ProgressOptions {
  /** Where to draw (default process.stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Characters inside the brackets (default 40). */
  width?: number;
}

/** One line of the bar: `[####    ] | 40% Completed | 1.2s`. */
export function renderProgressBar(done: number, total: number, elapsedMs: number, width = 40): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.floor(fraction * width);
  const percent = Math.floor(fraction * 100);
  return `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] | ${percent}% Completed | ${formatElapsed(elapsedMs)}`;
}

function formatElapsed(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}min ${(seconds - minutes * 60).toFixed(0).padStart(2, '0')}s`;
}

const redrawEveryMs = 100;
const plainLineEveryMs = 1000;

export async function progress(futures: Future<unknown> | Iterable<Future<unknown>>, options: ProgressOptions = {}): Promise<void> {
  const stream = options.stream ?? process.stdout;
  const width = options.width ?? 40;
  const tty = stream.isTTY === true;
  const states = [...new Set(futuresIn(futures).map((future) => stateOf(future)))];
  const total = states.length;
  const started = performance.now();
  let done = states.filter((state) => state.done).length;
  let lastLine = '';
  let lastPlainWrite = -Infinity;

  const draw = (final: boolean): void => {
    const now = performance.now();
    const line = renderProgressBar(done, total, now - started, width);
    if (tty) {
      stream.write(`\r${line}${final ? '\n' : ''}`);
    } else if (final || (now - lastPlainWrite >= plainLineEveryMs && line !== lastLine)) {
      stream.write(`${line}\n`);
      lastPlainWrite = now;
    }
    lastLine = line;
  };

  draw(done === total);
  if (done === total) return;
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
          done++;
          if (done === total) {
            draw(true);
            stop();
          }
        }),
      );
    };
    for (const state of states) if (!state.done) watch(state);
  });
}
