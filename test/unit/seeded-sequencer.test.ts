/** The integration suite's file order: drawn from a seed, repeatable, or reversed. */
import SeededSequencer from '../seeded-sequencer';

type Test = { path: string };
const files: Test[] = Array.from({ length: 12 }, (_, i) => ({
  path: `/repo/test/integration/f${String(i).padStart(2, '0')}.test.ts`,
}));

function orderWith(env: Record<string, string | undefined>): string[] {
  const saved = { seed: process.env.NKSR_TEST_SEED, order: process.env.NKSR_TEST_ORDER };
  if (env.last !== undefined) process.env.NKSR_TEST_LAST = env.last;
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    process.env.NKSR_TEST_SEED = env.seed;
    process.env.NKSR_TEST_ORDER = env.order;
    if (env.seed === undefined) delete process.env.NKSR_TEST_SEED;
    if (env.order === undefined) delete process.env.NKSR_TEST_ORDER;
    const sequencer = new SeededSequencer();
    return (sequencer.sort(files as never) as Test[]).map((t) => t.path.replace(/^.*\//, ''));
  } finally {
    write.mockRestore();
    delete process.env.NKSR_TEST_LAST;
    process.env.NKSR_TEST_SEED = saved.seed;
    process.env.NKSR_TEST_ORDER = saved.order;
    if (saved.seed === undefined) delete process.env.NKSR_TEST_SEED;
    if (saved.order === undefined) delete process.env.NKSR_TEST_ORDER;
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
    process.env.NKSR_TEST_SEED = '42';
    void new SeededSequencer().sort(files as never);
  } finally {
    write.mockRestore();
    delete process.env.NKSR_TEST_SEED;
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
