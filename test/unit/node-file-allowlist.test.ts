/**
 * installNodeFile / checkNodeFile / restoreNodeFile take file paths from an allowlist and validators
 * from a closed set: anything else is InvalidInput before a node is looked up or a
 * connection opened (the registry here has no cluster at all, so reaching that far would fail
 * differently).
 */
import { ApplicationFailure } from '@temporalio/common';
import { allowedNodeFile, createFileActivities } from '../../src/activities/node/files';
import { registryFromEntries } from '../../src/worker/registry';

const activities = createFileActivities({ registry: registryFromEntries({}) });
const ref = { cluster: 'sim', node: 'sim-default-worker-node-0' };

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('node file allowlist and validators', () => {
  test.each([
    ['/etc/passwd', undefined],
    ['/etc/logrotate.d/../passwd', undefined],
    ['/etc/logrotate.d/.hidden', undefined],
    ['/etc/logrotate.d/sub/docker', undefined],
    ['/etc/logrotate.d/-rf', undefined],
    ['/etc/logrotate.d/a;id', undefined],
    ['/etc/logrotate.d/docker', 'sh'],
    ['/etc/logrotate.d/docker', ['logrotate', '-d', '{}']],
    ['/etc/logrotate.d/docker', 'toString'],
    ['/etc/default/grub', 'logrotate'],
  ])('install %s with validator %j is InvalidInput', async (path, validator) => {
    const err = await failure(
      activities.installNodeFile({ ...ref, path, content: 'x\n', validator: validator as never }),
    );
    expect(err).toMatchObject({ type: 'InvalidInput', nonRetryable: true });
  });

  test('allowed: files directly in /etc/logrotate.d (validator logrotate) and /etc/default/grub', () => {
    expect(allowedNodeFile('/etc/logrotate.d/docker', 'logrotate')).toBe('/etc/logrotate.d/docker');
    expect(allowedNodeFile('/etc/default/grub')).toBe('/etc/default/grub');
  });

  test('check and restore use the same allowlist', async () => {
    expect(
      await failure(
        activities.checkNodeFile({ ...ref, path: '/etc/shadow', content: 'x', validator: 'logrotate' }),
      ),
    ).toMatchObject({ type: 'InvalidInput' });
    expect(
      await failure(
        activities.restoreNodeFile({ ...ref, path: '/etc/shadow', previous: { existed: false } }),
      ),
    ).toMatchObject({ type: 'InvalidInput' });
    // An allowed path gets as far as the registry (no such cluster here), so the check is the allowlist's.
    expect(
      await failure(
        activities.checkNodeFile({
          ...ref,
          path: '/etc/logrotate.d/docker',
          content: 'x',
          validator: 'logrotate',
        }),
      ),
    ).toMatchObject({ type: 'UnknownCluster' });
  });
});
