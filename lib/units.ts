/** Durations are milliseconds or strings with a unit; sizes are bytes or strings with a unit. */

const durationUnits: Record<string, number> = {
  us: 1e-3, ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000,
};

const sizeUnits: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

function parseWithUnit(input: string, units: Record<string, number>, what: string, fallbackUnit: string): number {
  const match = /^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  if (match === null) throw new TypeError(`invalid ${what}: ${JSON.stringify(input)}`);
  const unit = (match[2] === '' ? fallbackUnit : match[2]!).toLowerCase();
  const factor = units[unit];
  if (factor === undefined) throw new TypeError(`invalid ${what} unit ${JSON.stringify(match[2])} in ${JSON.stringify(input)}`);
  return Number(match[1]) * factor;
}

/**
 * Milliseconds from a number of milliseconds or a string like '100ms', '5s', '2m'.
 *
 * @example
 * ```ts
 * parseDuration('1.5s');   // 1500
 * parseDuration(250);      // 250
 * ```
 */
export function parseDuration(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) && value !== Infinity) throw new TypeError(`invalid duration: ${value}`);
    if (value < 0) throw new TypeError(`invalid duration: ${value}`);
    return value;
  }
  return parseWithUnit(value, durationUnits, 'duration', 'ms');
}

/**
 * Bytes from a number or a string like '2GB', '512MiB'.
 *
 * @example
 * ```ts
 * parseBytes('2GB');       // 2000000000
 * parseBytes('512MiB');    // 536870912
 * ```
 */
export function parseBytes(value: number | string): number {
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new TypeError(`invalid size: ${value}`);
    return Math.floor(value);
  }
  return Math.floor(parseWithUnit(value, sizeUnits, 'size', 'b'));
}

/** `undefined` stays `undefined` (no timeout); anything else is parsed. */
export function optionalDuration(value: number | string | undefined): number | undefined {
  return value === undefined ? undefined : parseDuration(value);
}
