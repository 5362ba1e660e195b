// lib/comm/fetch-from-holders.ts: the one path that fetches values from the
// workers holding them (the scheduler's gather and a client's direct fetch
// both use it; direct-gather and client-data drive it through real workers).
// Here, its rules one by one: which holder is asked, when, and what fails.
import t from 'tap';
import { fetchFromHolders } from '../dist/lib/comm/fetch-from-holders.js';
import type { GetDataReply } from '../dist/lib/protocol/messages.js';

const value = (n: number): Uint8Array => Uint8Array.of(n, n);
const quick = { busyRetries: 2, busyFirstDelayMs: 1 };

t.test('one call per worker per round; a key goes to its next holder when one fails or lacks it', async (t) => {
  const holders: Record<string, string[]> = { p: ['A', 'B'], q: ['A'], r: ['B', 'C'], s: [] };
  const calls: string[] = [];
  const got = await fetchFromHolders(['p', 'q', 'r', 's', 'q'], {
    ...quick,
    holders: (key) => holders[key] ?? [],
    getData: async (address, keys): Promise<GetDataReply | undefined> => {
      calls.push(`${address}<${keys.join(',')}>`);
      if (address === 'A') return undefined; // could not be asked (connection refused)
      if (address === 'B') return { status: 'OK', data: keys.includes('p') ? { p: value(1) } : {} };
      return { status: 'OK', data: { r: value(3) } };
    },
  });
  t.same(Object.keys(got.data).sort(), ['p', 'r']);
  t.same(got.data.p, value(1));
  t.same(got.failed.sort(), ['q', 's'], 'q: its only holder failed; s: nobody holds it');
  t.same(calls, ['A<p,q>', 'B<r>', 'B<p>', 'C<r>'], 'B is not asked for r twice; duplicates are asked once');
});

t.test('a busy worker is asked again after a pause, then its keys go to the next holder', async (t) => {
  let busyAnswers = 2;
  const calls: string[] = [];
  const patient = await fetchFromHolders(['k'], {
    ...quick,
    holders: () => ['busy', 'other'],
    getData: async (address): Promise<GetDataReply> => {
      calls.push(address);
      if (address === 'busy' && busyAnswers-- > 0) return { status: 'busy' };
      return { status: 'OK', data: { k: value(address === 'busy' ? 7 : 8) } };
    },
  });
  t.same(patient.data.k, value(7), 'the third answer of the busy worker carried the value');
  t.same(calls, ['busy', 'busy', 'busy']);

  const stubborn = await fetchFromHolders(['k'], {
    ...quick,
    holders: () => ['busy', 'other'],
    getData: async (address): Promise<GetDataReply> => (address === 'busy' ? { status: 'busy' } : { status: 'OK', data: { k: value(8) } }),
  });
  t.same(stubborn.data.k, value(8), 'past its retries, the next holder gave it');
  t.same(stubborn.failed, []);
});

t.test('an error thrown by getData ends the fetch with that error', async (t) => {
  const asked: string[] = [];
  const tooLarge = new RangeError('too large for one message');
  await t.rejects(
    fetchFromHolders(['big'], {
      ...quick,
      holders: () => ['A', 'B'],
      getData: async (address) => {
        asked.push(address);
        throw tooLarge;
      },
    }),
    tooLarge,
  );
  t.same(asked, ['A'], 'no other holder is asked');
});
