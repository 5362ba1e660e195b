/**
 * Word count over a folder of text files (`npm start`).
 *
 * Writes 64 files of generated words to a temporary folder, maps a counting
 * function over the file paths (each task reads its own file), shows the
 * progress, merges the counts on the cluster with a tree of submit calls,
 * and prints the ten most frequent words and the time taken.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, progress, type Future } from '../lib/index.js';

const FILES = 64;
const WORDS_PER_FILE = 20_000;

const VOCABULARY = (
  'the of and to in is that it was for on are as with his they at be this from have or by one had not but ' +
  'what all were when we there can an your which their said if do will each about how up out them then she many ' +
  'some so these would other into has more her two like him see time could no make than first been its who now ' +
  'people my made over did down only way find use may water long little very after words called just where most ' +
  'know cluster worker scheduler future task graph thread data memory'
).split(' ');

/** Deterministic pseudo-random words with a skewed (Zipf-like) frequency. */
function generateText(seed: number, words: number): string {
  let state = seed * 2654435761 + 1;
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    const rank = Math.floor(VOCABULARY.length * next() ** 3);
    out.push(VOCABULARY[rank]!);
    if (i % 12 === 11) out.push('\n');
  }
  return out.join(' ');
}

/** Runs on a worker: reads one file and counts its words. */
async function countWords(path: string): Promise<Map<string, number>> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(path, 'utf8');
  const counts = new Map<string, number>();
  for (const word of text.split(/\s+/)) {
    if (word !== '') counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  return counts;
}

/** Runs on a worker: merges two word counts. */
function mergeCounts(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const merged = new Map(a);
  for (const [word, count] of b) merged.set(word, (merged.get(word) ?? 0) + count);
  return merged;
}

async function main(): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), 'wordcount-'));
  try {
    const paths: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const path = join(folder, `part-${String(i).padStart(3, '0')}.txt`);
      await writeFile(path, generateText(i + 1, WORDS_PER_FILE));
      paths.push(path);
    }
    console.log(`Wrote ${FILES} files of ${WORDS_PER_FILE.toLocaleString('en-US')} words to ${folder}`);

    const started = performance.now();
    await using client = await Client.connect();
    const info = await client.schedulerInfo();
    const threads = Object.values(info.workers).reduce((sum, worker) => sum + worker.nthreads, 0);
    console.log(`Cluster: ${Object.keys(info.workers).length} worker(s), ${threads} thread(s), scheduler at ${client.schedulerAddress}`);

    const counts = client.map(countWords, paths);
    await progress(counts);

    // Merge pairwise on the cluster until one count is left.
    let level: Future<Map<string, number>>[] = counts;
    while (level.length > 1) {
      const next: Future<Map<string, number>>[] = [];
      for (let i = 0; i < level.length; i += 2) {
        next.push(i + 1 < level.length ? client.submit(mergeCounts, level[i]!, level[i + 1]!) : level[i]!);
      }
      level = next;
    }
    const total = await level[0]!.result();
    const elapsed = (performance.now() - started) / 1000;

    const top = [...total].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 10);
    const words = [...total.values()].reduce((sum, n) => sum + n, 0);
    console.log(`\nTop 10 of ${total.size} distinct words (${words.toLocaleString('en-US')} in all):`);
    for (const [i, [word, count]] of top.entries()) {
      console.log(`${String(i + 1).padStart(3)}. ${word.padEnd(12)} ${count.toLocaleString('en-US').padStart(9)}`);
    }
    console.log(`\nDone in ${elapsed.toFixed(2)} s`);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
