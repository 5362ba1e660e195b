/** `--resources "GPU=2 MEM=10e9"`: names with numeric amounts, separated by spaces or commas. */
import { UsageError } from './usage-error.js';

export function parseResources(text: string): Record<string, number> {
  const resources: Record<string, number> = {};
  for (const item of text.split(/[\s,]+/).filter((part) => part !== '')) {
    const match = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.+)$/.exec(item);
    if (match === null) {
      throw new UsageError(`invalid resource ${JSON.stringify(item)} in --resources: expected NAME=AMOUNT, e.g. "GPU=1 MEM=2e9"`);
    }
    const amount = Number(match[2]);
    if (!Number.isFinite(amount) || amount < 0) {
      throw new UsageError(`invalid amount ${JSON.stringify(match[2])} for resource ${match[1]} in --resources`);
    }
    if (Object.hasOwn(resources, match[1]!)) throw new UsageError(`resource ${match[1]} given twice in --resources`);
    resources[match[1]!] = amount;
  }
  return resources;
}
