/**
 * Integration tests: one real Temporal dev server and one shared simulator per run,
 * started by globalSetup (test/integration/global-setup.ts); each test starts its own worker on its
 * own task queue. Run in band: the machine is small and the simulator is shared.
 */
const base = require('./jest.base.config');
module.exports = {
  ...base,
  displayName: 'integration',
  roots: ['<rootDir>/test/integration'],
  globalSetup: '<rootDir>/test/integration/global-setup.ts',
  globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
  testTimeout: 180_000,
  slowTestThreshold: 60,
  maxWorkers: 1,
  // Files run in a seeded random order (printed first; NKSR_TEST_SEED repeats it): none may depend
  // on what another left behind.
  testSequencer: '<rootDir>/test/seeded-sequencer.js',
};
