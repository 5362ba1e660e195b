/**
 * A piscina task module, unchanged by the move to a cluster: counts the
 * primes in [from, to). piscina calls its default export in a thread;
 * ClusterPool calls the same export on a cluster's workers.
 */
export default function countPrimes({ from, to }: { from: number; to: number }): number {
  let count = 0;
  for (let n = Math.max(from, 2); n < to; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) count++;
  }
  return count;
}

/** A second export, picked with `run(task, { name: 'largestPrimeBelow' })`. */
export function largestPrimeBelow(limit: number): number {
  for (let n = limit - 1; n >= 2; n--) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) {
        prime = false;
        break;
      }
    }
    if (prime) return n;
  }
  return 0;
}
