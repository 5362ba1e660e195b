/**
 * One string per short, repeated name (type names such as 'number', key
 * prefixes such as 'inc'). Each decoded message and each `slice` brings its
 * own copy of such a name: held per task, a million tasks hold a million
 * 24-byte copies of 'number' for the collector to walk. Interning keeps the
 * first copy; past MAX_NAMES distinct names, new ones are kept as they come.
 */
const names = new Map<string, string>();
const MAX_NAMES = 4096;

export function interned(name: string): string;
export function interned(name: string | undefined): string | undefined;
export function interned(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const known = names.get(name);
  if (known !== undefined) return known;
  if (names.size < MAX_NAMES) names.set(name, name);
  return name;
}
