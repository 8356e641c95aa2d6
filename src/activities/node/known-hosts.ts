/**
 * known_hosts as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" defines it: markers (@revoked,
 * @cert-authority), comma-separated host patterns with `*`/`?` wildcards and `!` negation,
 * `[host]:port` for non-default ports, and hashed names `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`.
 * No library parses this format, hence the small parser.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface KnownHostEntry {
  marker?: 'revoked' | 'cert-authority';
  /** Either plain patterns or one hashed name. */
  patterns?: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  /** The public key blob in SSH wire format (what the server presents). */
  key: Buffer;
  line: number;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else return; // an unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, keyB64] = fields;
    if (!hosts || !keyType || !keyB64) return;
    const key = Buffer.from(keyB64, 'base64');
    // The blob starts with its own type name; a line whose two disagree is corrupt.
    if (blobKeyType(key) !== keyType) return;
    const entry: KnownHostEntry = { marker, keyType, key, line: index + 1 };
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      if (!salt || !hash) return;
      entry.hashed = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      entry.patterns = hosts.split(',');
    }
    entries.push(entry);
  });
  return entries;
}

/** The key type name at the start of an SSH public key blob, or undefined if malformed. */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || blob.length < 4 + len) return undefined;
  return blob.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint form: `SHA256:` + unpadded base64 of the blob's digest. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The name a host is recorded under: `host` for port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcardMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
    'i',
  );
  return re.test(name);
}

function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const mac = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return mac.length === entry.hashed.hash.length && timingSafeEqual(mac, entry.hashed.hash);
  }
  let matched = false;
  for (const p of entry.patterns ?? []) {
    if (p.startsWith('!')) {
      if (wildcardMatch(p.slice(1), name)) return false; // a negated match excludes the line
    } else if (wildcardMatch(p, name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; line: number }
  | {
      ok: false;
      reason: 'unknown' | 'mismatch' | 'revoked';
      presented: string;
      /** Fingerprints of the keys on record for this host (for the operator; never the keys). */
      expected: string[];
    };

export class KnownHosts {
  constructor(readonly entries: KnownHostEntry[]) {}

  static parse(text: string): KnownHosts {
    return new KnownHosts(parseKnownHosts(text));
  }

  private forHost(host: string, port: number): KnownHostEntry[] {
    const name = knownHostsName(host, port);
    // Certificate authorities are not supported: their lines are not trust anchors for plain keys.
    return this.entries.filter((e) => e.marker !== 'cert-authority' && entryMatches(e, name));
  }

  /** Key types on record for the host, in file order: offered first during key exchange. */
  keyTypes(host: string, port: number): string[] {
    return [
      ...new Set(
        this.forHost(host, port)
          .filter((e) => !e.marker)
          .map((e) => e.keyType),
      ),
    ];
  }

  verify(host: string, port: number, presented: Buffer): HostKeyVerdict {
    const entries = this.forHost(host, port);
    const fp = fingerprint(presented);
    if (entries.some((e) => e.marker === 'revoked' && e.key.equals(presented))) {
      return { ok: false, reason: 'revoked', presented: fp, expected: [] };
    }
    const trusted = entries.filter((e) => !e.marker);
    const match = trusted.find((e) => e.key.equals(presented));
    if (match) return { ok: true, fingerprint: fp, line: match.line };
    if (trusted.length === 0) return { ok: false, reason: 'unknown', presented: fp, expected: [] };
    const type = blobKeyType(presented);
    const sameType = trusted.filter((e) => e.keyType === type);
    return {
      ok: false,
      reason: 'mismatch',
      presented: fp,
      expected: (sameType.length > 0 ? sameType : trusted).map((e) => fingerprint(e.key)),
    };
  }
}

/** Host key algorithms (ssh2 names) that can present a key of the given type. */
export function hostKeyAlgorithmsFor(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}
