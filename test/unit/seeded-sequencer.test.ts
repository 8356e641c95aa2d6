/** The integration suite's file order: drawn from a seed, repeatable, or reversed. */
import SeededSequencer from '../seeded-sequencer';

type Test = { path: string };
const files: Test[] = Array.from({ length: 12 }, (_, i) => ({
  path: `/repo/test/integration/f${String(i).padStart(2, '0')}.test.ts`,
}));

const SEQUENCER_ENV = ['NKSR_TEST_SEED', 'NKSR_TEST_ORDER', 'NKSR_TEST_LAST'] as const;

/**
 * Runs `fn` with exactly these sequencer variables set (the others unset, whatever the shell running
 * the tests exported, e.g. scripts/test.sh's NKSR_TEST_SEED), then puts the environment back.
 */
function withSequencerEnv<T>(vars: { seed?: string; order?: string; last?: string }, fn: () => T): T {
  const saved = SEQUENCER_ENV.map((k) => [k, process.env[k]] as const);
  const wanted = { NKSR_TEST_SEED: vars.seed, NKSR_TEST_ORDER: vars.order, NKSR_TEST_LAST: vars.last };
  try {
    for (const k of SEQUENCER_ENV) {
      if (wanted[k] === undefined) delete process.env[k];
      else process.env[k] = wanted[k];
    }
    return fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function orderWith(env: { seed?: string; order?: string; last?: string }): string[] {
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return withSequencerEnv(env, () =>
      (new SeededSequencer().sort(files as never) as Test[]).map((t) => t.path.replace(/^.*\//, '')),
    );
  } finally {
    write.mockRestore();
  }
}

test('the same seed gives the same order; another seed another order; every file once', () => {
  const a = orderWith({ seed: '1234' });
  expect(orderWith({ seed: '1234' })).toEqual(a);
  expect(orderWith({ seed: '99' })).not.toEqual(a);
  expect([...a].sort()).toEqual(files.map((f) => f.path.replace(/^.*\//, '')));
});

test('reverse is reverse path order and path is path order', () => {
  const byPath = files.map((f) => f.path.replace(/^.*\//, ''));
  expect(orderWith({ order: 'reverse' })).toEqual([...byPath].reverse());
  expect(orderWith({ order: 'path' })).toEqual(byPath);
});

test('the seed is printed before the order', () => {
  const lines: string[] = [];
  const write = jest.spyOn(process.stderr, 'write').mockImplementation((s) => {
    lines.push(String(s));
    return true;
  });
  try {
    withSequencerEnv({ seed: '42' }, () => void new SeededSequencer().sort(files as never));
  } finally {
    write.mockRestore();
  }
  expect(lines.join('')).toMatch(
    /^\[test order\] shuffled, seed 42 \(NKSR_TEST_SEED=42 repeats this order\):\n {2}1\. /,
  );
});

test('a seed that is not a whole number and an unknown order are refused', () => {
  expect(() => orderWith({ seed: '12abc' })).toThrow('NKSR_TEST_SEED must be a whole number (got "12abc")');
  expect(() => orderWith({ order: 'random' })).toThrow('NKSR_TEST_ORDER must be shuffle, reverse or path');
});

test('NKSR_TEST_LAST moves the files it names to the end, in its order, the rest as the seed says', () => {
  const shuffled = orderWith({ seed: '5' });
  const order = orderWith({ seed: '5', last: 'f07,f02' });
  expect(order.slice(-2)).toEqual(['f07.test.ts', 'f02.test.ts']);
  expect(order.slice(0, -2)).toEqual(shuffled.filter((f) => f !== 'f07.test.ts' && f !== 'f02.test.ts'));
  expect(() => orderWith({ seed: '5', last: 'nothing-like-this' })).toThrow(
    'NKSR_TEST_LAST: no test file matches "nothing-like-this"',
  );
});
