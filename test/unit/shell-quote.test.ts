import { execFileSync } from 'node:child_process';
import {
  quoteArg,
  sh,
  shellCommand,
  shellRaw,
  validateFileMode,
  validateImageReference,
  validateNodeName,
  validateOwner,
  validateRemotePath,
  validateUnitName,
} from '../../src/common/shell';

// The remote login shell is bash on NKS nodes; sh (dash here) is the strictest POSIX shell we have.
const SHELLS = ['sh', 'bash'];

/** Runs `cmdline` and returns the arguments that the shell really passed, byte for byte. */
function argsSeenBy(shell: string, words: string): Buffer[] {
  // printf's format is constant; each argument arrives as $1.. and is framed by NUL bytes.
  const out = execFileSync(shell, ['-c', `set -- ${words}; for a in "$@"; do printf '%s\\0' "$a"; done`]);
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    if (out[i] === 0) {
      parts.push(out.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

const HOSTILE = [
  "it's",
  "'",
  "''",
  '"',
  'a;b',
  '; rm -rf / #',
  '$(touch /tmp/nksr-pwned)',
  '`touch /tmp/nksr-pwned`',
  '${HOME}',
  '$HOME',
  'a\nb',
  '\n',
  'a\rb\tc',
  '\\',
  "\\'",
  '*',
  '~',
  '~root',
  '-n',
  '--',
  '!',
  '!!',
  '&&',
  '|',
  '>',
  '<(x)',
  '#',
  ' leading and trailing ',
  '',
  'ünïcødé ✓',
  '\'$(echo "`id`")\'\\n',
  '\x7f\x01\x1b[31m',
];

describe('quoteArg / shellCommand round trip through a real shell', () => {
  for (const shell of SHELLS) {
    it(`${shell}: each hostile value arrives as one literal argument`, () => {
      for (const value of HOSTILE) {
        const seen = argsSeenBy(shell, quoteArg(value));
        expect(seen).toHaveLength(1);
        expect(seen[0]!.equals(Buffer.from(value, 'utf8'))).toBe(true);
      }
    });

    it(`${shell}: a whole argv arrives element by element`, () => {
      const seen = argsSeenBy(shell, shellCommand(HOSTILE));
      expect(seen.map((b) => b.toString('utf8'))).toEqual(HOSTILE);
    });

    it(`${shell}: random strings of shell metacharacters round-trip`, () => {
      // Deterministic pseudo-random so a failure is reproducible.
      let seed = 12345;
      const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
      const alphabet = [
        "'",
        '"',
        '\\',
        '$',
        '`',
        '(',
        ')',
        ';',
        '&',
        '|',
        '\n',
        ' ',
        '\t',
        '*',
        '?',
        '[',
        ']',
        '{',
        '}',
        '~',
        '!',
        '#',
        '<',
        '>',
        'a',
        '-',
        '=',
        '%',
        '\x01',
        'é',
      ];
      const values: string[] = [];
      for (let n = 0; n < 200; n++) {
        let v = '';
        const len = next() % 12;
        for (let i = 0; i < len; i++) v += alphabet[next() % alphabet.length];
        values.push(v);
      }
      const seen = argsSeenBy(shell, shellCommand(values));
      expect(seen.map((b) => b.toString('utf8'))).toEqual(values);
    });
  }

  it('rejects NUL, which no shell argument can carry', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
    expect(() => shellCommand(['echo', 'a\0'])).toThrow(/NUL/);
  });

  it('leaves plain words readable and quotes the rest', () => {
    expect(shellCommand(['sudo', '-n', 'install', '-m', '0644', '/etc/logrotate.d/docker'])).toBe(
      'sudo -n install -m 0644 /etc/logrotate.d/docker',
    );
    expect(quoteArg("it's")).toBe("'it'\\''s'");
    expect(quoteArg('')).toBe("''");
  });

  it('sh`` quotes interpolations, spreads arrays and keeps literal parts and shellRaw as syntax', () => {
    const cmd = sh`printf '%s\\0' ${'a b'} ${['$(x)', "'"]} ${shellRaw('2>/dev/null')}`;
    expect(cmd).toBe(`printf '%s\\0' 'a b' '$(x)' ''\\''' 2>/dev/null`);
    const seen = execFileSync('sh', ['-c', cmd]).toString('utf8').split('\0').slice(0, -1);
    expect(seen).toEqual(['a b', '$(x)', "'"]);
  });

  it('no interpolation executes anything', () => {
    const marker = `/tmp/nksr-shell-quote-${process.pid}`;
    const values = [`$(touch ${marker})`, `\`touch ${marker}\``, `; touch ${marker}`, `\ntouch ${marker}`];
    for (const shell of SHELLS) execFileSync(shell, ['-c', `echo ${shellCommand(values)} >/dev/null`]);
    expect(() => execFileSync('test', ['-e', marker])).toThrow();
  });
});

describe('validators', () => {
  it('remote paths: absolute, restricted charset, no . or .. segments', () => {
    expect(validateRemotePath('/etc/logrotate.d/docker')).toBe('/etc/logrotate.d/docker');
    expect(validateRemotePath('/boot/grub2/grub.cfg')).toBe('/boot/grub2/grub.cfg');
    for (const bad of [
      'etc/x',
      '',
      '/etc/../shadow',
      '/etc/./x',
      '/..',
      '/etc//x',
      '/etc/x/',
      '/etc/a b',
      "/etc/it's",
      '/etc/$(id)',
      '/etc/`id`',
      '/etc/x;rm',
      '/etc/x\n',
      '/etc/x\0',
      '/etc/*',
      '/etc/-rf',
      '/tmp/~x',
      '/' + 'a'.repeat(5000),
    ]) {
      expect(() => validateRemotePath(bad)).toThrow(/invalid remote path/);
    }
  });

  it('errors are non-retryable InvalidInput and do not echo control characters raw', () => {
    try {
      validateRemotePath('/etc/x\n; reboot');
      throw new Error('not rejected');
    } catch (e) {
      const err = e as { type?: string; nonRetryable?: boolean; message: string };
      expect(err.type).toBe('InvalidInput');
      expect(err.nonRetryable).toBe(true);
      expect(err.message).not.toContain('\n');
    }
  });

  it('unit names', () => {
    for (const ok of [
      'rpc-statd',
      'rpcbind.service',
      'getty@tty1.service',
      'sys-fs-fuse-connections.mount',
    ]) {
      expect(validateUnitName(ok)).toBe(ok);
    }
    for (const bad of [
      '',
      '-x',
      'a b',
      'a;b',
      '$(id)',
      'rpc-statd.servic',
      'a/b',
      "a'b",
      'a\nb',
      'x'.repeat(300),
    ]) {
      expect(() => validateUnitName(bad)).toThrow(/systemd unit name/);
    }
  });

  it('file modes are normalised to four octal digits', () => {
    expect(validateFileMode('644')).toBe('0644');
    expect(validateFileMode('0644')).toBe('0644');
    expect(validateFileMode('1777')).toBe('1777');
    expect(validateFileMode('01777')).toBe('1777');
    for (const bad of ['', '8', '0649', '64', 'rw-r--r--', '0644;', '77777', '+x']) {
      expect(() => validateFileMode(bad)).toThrow(/file mode/);
    }
  });

  it('owners', () => {
    expect(validateOwner('root')).toEqual({ user: 'root', group: undefined });
    expect(validateOwner('root:adm')).toEqual({ user: 'root', group: 'adm' });
    expect(validateOwner('0:0')).toEqual({ user: '0', group: '0' });
    for (const bad of ['', 'root:', ':root', 'a:b:c', 'Root', 'ro ot', 'root;id', '$(id)']) {
      expect(() => validateOwner(bad)).toThrow(/owner/);
    }
  });

  it('node names', () => {
    expect(validateNodeName('nks-default-worker-node-1')).toBe('nks-default-worker-node-1');
    for (const bad of ['', 'Node1', 'a_b', '-a', 'a;b', 'a b']) expect(() => validateNodeName(bad)).toThrow();
  });

  it('image references', () => {
    for (const ok of [
      'pause:3.2',
      'k8s.gcr.io/pause:3.2',
      'harbor-kr1.cloud.toastoven.net/container_service/pause:3.2',
      'calico/node:v3.24.1',
      'localhost:5000/a/b:latest',
      'ghcr.io/owner/image@sha256:' + 'a'.repeat(64),
      'docker.io/library/nginx:1.25-alpine',
    ]) {
      expect(validateImageReference(ok)).toBe(ok);
    }
    for (const bad of [
      '',
      'Calico/node',
      'Docker.io/calico/node',
      'calico/node:v3.24.1;id',
      'calico/node:$(id)',
      'calico node',
      'calico/node:',
      '-calico/node',
      'calico//node',
      'calico/node:v1\n',
    ]) {
      expect(() => validateImageReference(bad)).toThrow(/image reference/);
    }
  });
});
