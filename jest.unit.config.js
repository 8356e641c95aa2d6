/**
 * Unit tests: no network, no simulator, no dev server. Files that test workflow code run it on a
 * time-skipping test server with FAKE activities (test/unit/time-skipping.ts: one server per file);
 * the recorded histories under test/replay/histories are replayed here too.
 */
const base = require('./jest.base.config');
module.exports = { ...base, displayName: 'unit', roots: ['<rootDir>/test/unit'] };
