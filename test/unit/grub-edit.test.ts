/**
 * The GRUB_CMDLINE_LINUX edit of disableKmemAccounting (src/common/grub.ts): the argument added once,
 * every other byte kept; and the custom-image user script, run for real with bash on a temp copy
 * (sudo and grub2-mkconfig replaced by stand-ins on PATH), twice.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KMEM_KERNEL_ARG,
  addGrubCmdlineArg,
  cmdlineHasArg,
  kernelMajor,
  kmemUserScript,
} from '../../src/common/grub';

const CENTOS = `GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR="$(sed 's, release .*$,,g' /etc/system-release)"
GRUB_DEFAULT=saved
GRUB_DISABLE_SUBMENU=true
GRUB_TERMINAL_OUTPUT="console"
GRUB_CMDLINE_LINUX="console=tty0 crashkernel=auto  console=ttyS0,115200 net.ifnames=0 biosdevname=0"
GRUB_DISABLE_RECOVERY="true"
`;

describe('addGrubCmdlineArg', () => {
  test('appends once inside the quotes, every other byte kept', () => {
    const once = addGrubCmdlineArg(CENTOS, KMEM_KERNEL_ARG);
    expect(once.status).toBe('added');
    expect(once.content).toBe(CENTOS.replace('biosdevname=0"', `biosdevname=0 ${KMEM_KERNEL_ARG}"`));
    const twice = addGrubCmdlineArg(once.content, KMEM_KERNEL_ARG);
    expect(twice).toMatchObject({ status: 'unchanged', content: once.content });
  });

  test('GRUB_CMDLINE_LINUX_DEFAULT is not the line; a similar argument is not the argument', () => {
    const text = `GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="cgroup.memory=nokmem2 x"\n`;
    const r = addGrubCmdlineArg(text, KMEM_KERNEL_ARG);
    expect(r.content).toBe(
      `GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="cgroup.memory=nokmem2 x ${KMEM_KERNEL_ARG}"\n`,
    );
  });

  test('empty, single-quoted and missing values', () => {
    expect(addGrubCmdlineArg('GRUB_CMDLINE_LINUX=""\n', KMEM_KERNEL_ARG).content).toBe(
      `GRUB_CMDLINE_LINUX="${KMEM_KERNEL_ARG}"\n`,
    );
    expect(addGrubCmdlineArg(`GRUB_CMDLINE_LINUX='a b'\n`, KMEM_KERNEL_ARG).content).toBe(
      `GRUB_CMDLINE_LINUX='a b ${KMEM_KERNEL_ARG}'\n`,
    );
    expect(addGrubCmdlineArg('GRUB_TIMEOUT=5', KMEM_KERNEL_ARG).content).toBe(
      `GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="${KMEM_KERNEL_ARG}"\n`,
    );
  });

  test('cmdline and kernel helpers', () => {
    expect(cmdlineHasArg(`BOOT_IMAGE=/vmlinuz ro ${KMEM_KERNEL_ARG}`, KMEM_KERNEL_ARG)).toBe(true);
    expect(cmdlineHasArg(`ro cgroup.memory=nokmemx`, KMEM_KERNEL_ARG)).toBe(false);
    expect(kernelMajor('3.10.0-1160.el7.x86_64')).toBe(3);
    expect(kernelMajor('5.14.0-362.el9.x86_64')).toBe(5);
    expect(kernelMajor('')).toBeUndefined();
  });
});

describe('the custom-image user script', () => {
  test('run twice with bash, the argument is in GRUB_CMDLINE_LINUX once and the rest unchanged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksr-userscript-'));
    const grub = join(dir, 'grub');
    writeFileSync(grub, CENTOS);
    // Stand-ins: sudo runs its arguments; grub2-mkconfig records that it ran.
    writeFileSync(join(dir, 'sudo'), '#!/bin/bash\nexec "$@"\n');
    writeFileSync(join(dir, 'grub2-mkconfig'), `#!/bin/bash\necho "$@" >> ${dir}/mkconfig.log\n`);
    chmodSync(join(dir, 'sudo'), 0o755);
    chmodSync(join(dir, 'grub2-mkconfig'), 0o755);
    const script = kmemUserScript().replace('grub_file="/etc/default/grub"', `grub_file="${grub}"`);
    const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
    execFileSync('bash', ['-c', script], { env });
    execFileSync('bash', ['-c', script], { env });
    expect(readFileSync(grub, 'utf8')).toBe(
      CENTOS.replace('biosdevname=0"', `biosdevname=0 ${KMEM_KERNEL_ARG}"`),
    );
    expect(readFileSync(join(dir, 'mkconfig.log'), 'utf8')).toBe(
      '-o /boot/grub2/grub.cfg\n-o /boot/grub2/grub.cfg\n',
    );
  });
});
