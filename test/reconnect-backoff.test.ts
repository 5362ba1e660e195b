/** The reconnection back-off policy (pure) and the retry loop built on it. */
import t from 'tap';
import { backoffDelay, backoffPolicy, nextAttemptDelay, DEFAULT_BACKOFF } from '../dist/lib/comm/reconnect-backoff.js';
import { reconnectWithin, ReconnectCancelled } from '../dist/lib/comm/reconnect.js';

t.test('delays grow exponentially and stop at the cap', async (t) => {
  const policy = backoffPolicy({ baseMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
  t.same([1, 2, 3, 4, 5, 6, 50, 10_000].map((n) => backoffDelay(n, policy)), [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
  t.equal(backoffDelay(0, policy), 100, 'attempt numbers below 1 count as the first');
});

t.test('jitter draws each delay between (1 - jitter) and all of its ceiling', async (t) => {
  const policy = backoffPolicy({ baseMs: 100, maxMs: 10_000, factor: 2, jitter: 0.5 });
  t.equal(backoffDelay(3, policy, () => 0), 200, 'lowest draw: half of 400');
  t.equal(backoffDelay(3, policy, () => 0.999999), 400, 'highest draw: all of 400');
  t.equal(backoffDelay(3, policy, () => 0.5), 300);
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const d = backoffDelay(4, policy);
    t.ok(d >= 400 && d <= 800, `within [400, 800]: ${d}`);
    seen.add(d);
  }
  t.ok(seen.size > 10, 'many different delays: peers do not retry in lockstep');
  t.equal(backoffDelay(2, policy, () => 7), 200, 'a random source out of range is clamped');
});

t.test('the deadline bounds the next delay', async (t) => {
  const policy = backoffPolicy({ baseMs: 500, maxMs: 500, jitter: 0 });
  t.equal(nextAttemptDelay(1, 1000, 5000, policy), 500);
  t.equal(nextAttemptDelay(1, 4800, 5000, policy), 200, 'no later than the deadline');
  t.equal(nextAttemptDelay(1, 5000, 5000, policy), undefined, 'no room for another attempt');
  t.equal(nextAttemptDelay(1, 6000, 5000, policy), undefined);
});

t.test('bad policies are refused with the field named', async (t) => {
  t.throws(() => backoffPolicy({ baseMs: -1 }), { name: 'RangeError', message: /baseMs/ });
  t.throws(() => backoffPolicy({ baseMs: 100, maxMs: 50 }), { name: 'RangeError', message: /maxMs/ });
  t.throws(() => backoffPolicy({ factor: 0.5 }), { name: 'RangeError', message: /factor/ });
  t.throws(() => backoffPolicy({ jitter: 2 }), { name: 'RangeError', message: /jitter/ });
  t.same(backoffPolicy(), DEFAULT_BACKOFF);
});

t.test('reconnectWithin retries until an attempt succeeds, reporting each retry', async (t) => {
  let calls = 0;
  const retries: number[] = [];
  const value = await reconnectWithin(
    async () => {
      calls++;
      if (calls < 4) throw new Error(`refused ${calls}`);
      return 'connected';
    },
    { timeoutMs: 5000, backoff: { baseMs: 5, maxMs: 20 }, onRetry: (n) => retries.push(n) },
  );
  t.equal(value, 'connected');
  t.equal(calls, 4);
  t.same(retries, [1, 2, 3]);
});

t.test('reconnectWithin gives up after its timeout with the last failure, or at once when cancelled or not retryable', async (t) => {
  await t.rejects(
    reconnectWithin(() => Promise.reject(new Error('connection refused')), { timeoutMs: 150, backoff: { baseMs: 10, maxMs: 40 } }),
    { name: 'TimeoutError', message: /gave up after \d+ attempt\(s\).*connection refused/ },
  );
  let stop = false;
  const cancelled = reconnectWithin(
    () => {
      stop = true;
      return Promise.reject(new Error('refused'));
    },
    { timeoutMs: 60_000, cancelled: () => stop },
  );
  await t.rejects(cancelled, ReconnectCancelled);
  class Refusal extends Error {}
  let attempts = 0;
  await t.rejects(
    reconnectWithin(() => {
      attempts++;
      return Promise.reject(new Refusal('name taken'));
    }, { timeoutMs: 60_000, retryable: (error) => !(error instanceof Refusal) }),
    /name taken/,
  );
  t.equal(attempts, 1, 'a refusal is not retried');
});
