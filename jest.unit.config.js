/** Unit tests: no network, no servers. */
const base = require('./jest.base.config');
module.exports = { ...base, displayName: 'unit', roots: ['<rootDir>/test/unit'] };
