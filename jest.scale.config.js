/**
 * Scale runs on the real stack (test/scale: 1,000 simulated nodes, 10,000 pods): the integration
 * setup, by hand and not in CI (`npx jest --config jest.scale.config.js`), because building that
 * cluster alone takes minutes on a 2-core machine; figures from them go in bench/README.md.
 */
const integration = require('./jest.integration.config');
module.exports = {
  ...integration,
  displayName: 'scale',
  roots: ['<rootDir>/test/scale'],
  testTimeout: 1_800_000,
};
