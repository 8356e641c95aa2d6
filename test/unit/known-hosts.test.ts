import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnownHosts, blobKeyType, fingerprint, parseKnownHosts } from '../../src/activities/node/known-hosts';

// Real keys from ssh-keygen, and OpenSSH's own tools as the reference for matching and fingerprints.
let dir: string;
const keys: Record<string, { line: string; blob: Buffer; fp: string }> = {};

function makeKey(name: string, type: string): void {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', '', '-f', path]);
  const line = readFileSync(`${path}.pub`, 'utf8').trim();
  const [, b64] = line.split(/\s+/);
  const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`])
    .toString()
    .split(/\s+/)[1]!;
  keys[name] = { line: line.split(/\s+/).slice(0, 2).join(' '), blob: Buffer.from(b64!, 'base64'), fp };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nksr-known-hosts-'));
  makeKey('n1', 'ed25519');
  makeKey('n2', 'ed25519');
  makeKey('n3', 'ecdsa');
  makeKey('mitm', 'ed25519');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What OpenSSH itself finds for `name` in a known_hosts text (`ssh-keygen -F`). */
function opensshFinds(text: string, name: string): boolean {
  const file = join(dir, 'kh-check');
  writeFileSync(file, text);
  try {
    return execFileSync('ssh-keygen', ['-F', name, '-f', file]).toString().includes('found');
  } catch {
    return false;
  }
}

describe('known_hosts', () => {
  it('fingerprints are OpenSSH SHA256 fingerprints and blobs carry their type', () => {
    expect(fingerprint(keys.n1!.blob)).toBe(keys.n1!.fp);
    expect(fingerprint(keys.n3!.blob)).toBe(keys.n3!.fp);
    expect(blobKeyType(keys.n3!.blob)).toBe('ecdsa-sha2-nistp256');
  });

  it('plain entry: matches its host on port 22 only', () => {
    const text = `127.0.1.1 ${keys.n1!.line}\n`;
    const kh = KnownHosts.parse(text);
    expect(kh.verify('127.0.1.1', 22, keys.n1!.blob)).toMatchObject({ ok: true, line: 1 });
    expect(kh.verify('127.0.1.1', 2222, keys.n1!.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(opensshFinds(text, '127.0.1.1')).toBe(true);
    expect(opensshFinds(text, '[127.0.1.1]:2222')).toBe(false);
  });

  it('[host]:port entry: matches that port only', () => {
    const text = `[127.0.1.2]:2222 ${keys.n2!.line}\n`;
    const kh = KnownHosts.parse(text);
    expect(kh.verify('127.0.1.2', 2222, keys.n2!.blob).ok).toBe(true);
    expect(kh.verify('127.0.1.2', 22, keys.n2!.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(opensshFinds(text, '[127.0.1.2]:2222')).toBe(true);
  });

  it('comma lists, wildcards and negation', () => {
    const text = [
      `node-a,127.0.1.3,[127.0.1.3]:2200 ${keys.n3!.line}`,
      `*.example.com,!bad.example.com ${keys.n1!.line}`,
      `10.0.0.? ${keys.n2!.line}`,
    ].join('\n');
    const kh = KnownHosts.parse(text);
    expect(kh.verify('127.0.1.3', 22, keys.n3!.blob).ok).toBe(true);
    expect(kh.verify('127.0.1.3', 2200, keys.n3!.blob).ok).toBe(true);
    expect(kh.verify('node-a', 22, keys.n3!.blob).ok).toBe(true);
    expect(kh.verify('good.example.com', 22, keys.n1!.blob).ok).toBe(true);
    expect(kh.verify('bad.example.com', 22, keys.n1!.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(kh.verify('10.0.0.7', 22, keys.n2!.blob).ok).toBe(true);
    expect(kh.verify('10.0.0.17', 22, keys.n2!.blob).ok).toBe(false);
    for (const name of ['127.0.1.3', '[127.0.1.3]:2200', 'good.example.com', '10.0.0.7']) {
      expect(opensshFinds(text, name)).toBe(true);
    }
    for (const name of ['bad.example.com', '10.0.0.17']) expect(opensshFinds(text, name)).toBe(false);
  });

  it('hashed entries written by ssh-keygen -H', () => {
    const file = join(dir, 'kh-hashed');
    writeFileSync(file, `127.0.1.4 ${keys.n1!.line}\n[127.0.1.5]:2222 ${keys.n2!.line}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('127.0.1.4');
    expect(parseKnownHosts(text).every((e) => e.hashed !== undefined)).toBe(true);
    const kh = KnownHosts.parse(text);
    expect(kh.verify('127.0.1.4', 22, keys.n1!.blob).ok).toBe(true);
    expect(kh.verify('127.0.1.5', 2222, keys.n2!.blob).ok).toBe(true);
    expect(kh.verify('127.0.1.5', 22, keys.n2!.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(kh.verify('127.0.1.44', 22, keys.n1!.blob)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(kh.verify('127.0.1.4', 22, keys.mitm!.blob)).toEqual({
      ok: false,
      reason: 'mismatch',
      presented: keys.mitm!.fp,
      expected: [keys.n1!.fp],
    });
  });

  it('a different key for a known host is a mismatch naming fingerprints, never keys', () => {
    const kh = KnownHosts.parse(`127.0.1.1 ${keys.n1!.line}\n127.0.1.1 ${keys.n3!.line}\n`);
    const verdict = kh.verify('127.0.1.1', 22, keys.mitm!.blob);
    // Same-type keys on record are the relevant ones to show.
    expect(verdict).toEqual({
      ok: false,
      reason: 'mismatch',
      presented: keys.mitm!.fp,
      expected: [keys.n1!.fp],
    });
    expect(JSON.stringify(verdict)).not.toContain(keys.n1!.line.split(' ')[1]!);
    expect(kh.keyTypes('127.0.1.1', 22)).toEqual(['ssh-ed25519', 'ecdsa-sha2-nistp256']);
  });

  it('@revoked refuses the key even when another line trusts it; @cert-authority lines are not trust', () => {
    const kh = KnownHosts.parse(
      `127.0.1.1 ${keys.n1!.line}\n@revoked * ${keys.n1!.line}\n@cert-authority * ${keys.n2!.line}\n`,
    );
    expect(kh.verify('127.0.1.1', 22, keys.n1!.blob)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(kh.verify('127.0.1.9', 22, keys.n2!.blob)).toMatchObject({ ok: false, reason: 'unknown' });
  });

  it('skips comments, blank, corrupt and unknown-marker lines', () => {
    const text = [
      '# comment',
      '',
      `@bogus 127.0.1.1 ${keys.n1!.line}`,
      '127.0.1.1 ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==', // blob says ssh-rsa: corrupt
      '127.0.1.1 ssh-ed25519',
      `127.0.1.1 ${keys.n2!.line} trailing comment`,
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries).toHaveLength(1);
    expect(entries[0]!.line).toBe(6);
  });
});
