/**
 * mulberry32: a small seeded generator (numbers in [0, 1)). A seed names a sequence: the test file
 * order (test/seeded-sequencer.js) and the fault suite's draws (faults/suite.ts) are reproducible
 * from theirs. Plain JavaScript because jest loads the sequencer untransformed.
 */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

module.exports = { rng };
