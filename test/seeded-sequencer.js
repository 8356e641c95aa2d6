/**
 * Runs the test files in an order drawn from a seed, so a file that only passes after another one
 * shows itself. The seed is printed first; NKSR_TEST_SEED=<n> gives the same order again.
 * NKSR_TEST_ORDER: `shuffle` (default), `reverse` (reverse path order) or `path` (path order).
 * NKSR_TEST_LAST: comma-separated parts of paths whose files then run after all the others (in the
 * list's order), to check that a file passes after everything else has run.
 */
const Sequencer = require('@jest/test-sequencer').default;
const { rng } = require('./seeded-random');

function parseSeed(raw) {
  if (raw === undefined || raw === '') return Math.floor(Math.random() * 1_000_000);
  if (!/^\d{1,9}$/.test(raw))
    throw new Error(`NKSR_TEST_SEED must be a whole number (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

class SeededSequencer extends Sequencer {
  sort(tests) {
    const order = process.env.NKSR_TEST_ORDER || 'shuffle';
    const byPath = [...tests].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    let sorted;
    let label;
    if (order === 'path') {
      sorted = byPath;
      label = 'path order';
    } else if (order === 'reverse') {
      sorted = byPath.reverse();
      label = 'reverse path order';
    } else if (order === 'shuffle') {
      const seed = parseSeed(process.env.NKSR_TEST_SEED);
      const next = rng(seed);
      sorted = byPath;
      for (let i = sorted.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [sorted[i], sorted[j]] = [sorted[j], sorted[i]];
      }
      label = `shuffled, seed ${seed} (NKSR_TEST_SEED=${seed} repeats this order)`;
    } else {
      throw new Error(`NKSR_TEST_ORDER must be shuffle, reverse or path (got ${JSON.stringify(order)})`);
    }
    const last = (process.env.NKSR_TEST_LAST || '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    if (last.length) {
      const picked = last.flatMap((part) => {
        const hit = sorted.filter((t) => t.path.includes(part));
        if (hit.length === 0) throw new Error(`NKSR_TEST_LAST: no test file matches ${JSON.stringify(part)}`);
        return hit;
      });
      sorted = [...sorted.filter((t) => !picked.includes(t)), ...new Set(picked)];
      label += `, then last: ${last.join(', ')}`;
    }
    const rel = (p) => p.slice(p.indexOf('/test/') + 1);
    process.stderr.write(
      `[test order] ${label}:\n${sorted.map((t, i) => `  ${i + 1}. ${rel(t.path)}`).join('\n')}\n`,
    );
    return sorted;
  }
}

module.exports = SeededSequencer;
