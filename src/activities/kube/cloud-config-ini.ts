/**
 * Setting one boolean key in one section of the cinder CSI `cloud-config` (a gcfg/INI file, as the
 * cloud provider reads it) while every other byte stays as it was, comments included.
 *
 * The `ini` package parses but cannot write back a file unchanged (it drops comments and re-formats),
 * so the edit is a minimal line-level one over a strict tokenizer of gcfg's syntax; `ini.parse` then
 * verifies the result (the key reads true, every other section and key reads as before).
 *
 * gcfg rules kept: section and key names are case-insensitive; `;` and `#` start comments (also after
 * a value); a key without `=` is a true boolean; booleans are true/yes/on/1 and false/no/off/0; a
 * section may appear more than once (its keys merge). Errors name line numbers only: the file holds
 * credentials, so no message quotes its content.
 */
import { parse as parseIni } from 'ini';

export class CloudConfigParseError extends Error {
  override readonly name = 'CloudConfigParseError';
}

type Line =
  | { kind: 'blank' | 'comment'; text: string }
  | { kind: 'section'; text: string; section: string }
  | { kind: 'key'; text: string; section: string; key: string; value: string | undefined };

interface Tokenized {
  lines: Line[];
  /** Line ending of the file ('\r\n' when its first line ending is one). */
  eol: string;
  /** The last line ends with a line ending. */
  endsWithEol: boolean;
}

const SECTION = /^\[\s*([A-Za-z0-9_.-]+)(\s+"(?:[^"\\]|\\.)*")?\s*\]\s*(?:[;#].*)?$/;
const KEY = /^([A-Za-z][A-Za-z0-9_-]*)\s*(?:=(.*))?$/;

/** A value as gcfg reads it: inline comment cut (outside quotes), trimmed, quotes removed. */
function valueOf(raw: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && quoted && i + 1 < raw.length) {
      out += raw[++i];
      continue;
    }
    if (c === '"') {
      quoted = !quoted;
      continue;
    }
    if (!quoted && (c === ';' || c === '#')) break;
    out += c;
  }
  if (quoted) throw new CloudConfigParseError('unterminated quoted value');
  return out.trim();
}

export function tokenize(text: string): Tokenized {
  const crlf = /\r\n/.exec(text);
  const lf = /\n/.exec(text);
  const eol = crlf && lf && crlf.index + 1 === lf.index ? '\r\n' : '\n';
  const rawLines = text.split('\n');
  const endsWithEol = text.endsWith('\n');
  if (endsWithEol) rawLines.pop();
  const lines: Line[] = [];
  let section: string | undefined;
  rawLines.forEach((raw, i) => {
    const text = i < rawLines.length - 1 || endsWithEol ? `${raw}\n` : raw;
    const body = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const t = body.trim();
    if (t === '') return lines.push({ kind: 'blank', text });
    if (t.startsWith(';') || t.startsWith('#')) return lines.push({ kind: 'comment', text });
    const s = SECTION.exec(t);
    if (s) {
      section = (s[1]! + (s[2] ?? '')).toLowerCase();
      return lines.push({ kind: 'section', text, section });
    }
    const k = KEY.exec(t);
    if (k) {
      if (section === undefined)
        throw new CloudConfigParseError(`line ${i + 1}: a key before the first [section]`);
      let value: string | undefined;
      try {
        value = k[2] === undefined ? undefined : valueOf(k[2]);
      } catch (err) {
        throw new CloudConfigParseError(`line ${i + 1}: ${(err as Error).message}`);
      }
      return lines.push({ kind: 'key', text, section, key: k[1]!.toLowerCase(), value });
    }
    throw new CloudConfigParseError(`line ${i + 1}: neither a [section], a key = value, nor a comment`);
  });
  return { lines, eol, endsWithEol };
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

/** What the key said before: absent, a boolean, or something gcfg would refuse as one. */
export type PreviousValue = 'absent' | 'true' | 'false' | 'not-a-boolean';

export interface SetBooleanResult {
  /** The whole file after the edit (=== the input when nothing changed). */
  text: string;
  changed: boolean;
  change: 'none' | 'section-added' | 'key-added' | 'value-set' | 'duplicates-removed';
  previous: PreviousValue;
  /** 1-based line of the key in the result. */
  line: number;
  /** Later occurrences of the key in the section, removed (gcfg lets the last one win). */
  duplicatesRemoved: number;
}

function classify(value: string | undefined): PreviousValue {
  if (value === undefined) return 'true'; // a bare key is a true boolean
  const v = value.toLowerCase();
  return TRUE.has(v) ? 'true' : FALSE.has(v) ? 'false' : 'not-a-boolean';
}

/**
 * Sets `key = true` in `[section]` (names case-insensitive). Already true: unchanged. Key present with
 * another value: that one line gets `true` in place of its value (its key spelling, spacing and
 * comment kept). Absent: `key=true` is inserted after the section's last key (or header), in the first
 * occurrence of the section. Section absent: appended once at the end. Every other line is kept byte
 * for byte. Throws CloudConfigParseError for a file gcfg would not read.
 */
export function setBooleanTrue(text: string, section: string, key: string): SetBooleanResult {
  const { lines, eol, endsWithEol } = tokenize(text);
  const sec = section.toLowerCase();
  const k = key.toLowerCase();
  const hits = lines
    .map((l, i) => ({ l, i }))
    .filter((x) => x.l.kind === 'key' && x.l.section === sec && x.l.key === k);
  // gcfg: the last value wins.
  const last = hits[hits.length - 1];
  const previous: PreviousValue = last ? classify((last.l as { value?: string }).value) : 'absent';
  const out = [...lines.map((l) => l.text)];
  let change: SetBooleanResult['change'] = 'none';
  let keyIndex: number;
  let removed = 0;

  if (hits.length > 0) {
    const first = hits[0]!;
    keyIndex = first.i;
    if (classify((first.l as { value?: string }).value) !== 'true' || previous !== 'true') {
      out[first.i] = withTrueValue(first.l.text, key);
      change = 'value-set';
    }
    for (const dup of hits.slice(1)) {
      out[dup.i] = '';
      removed++;
    }
    if (removed && change === 'none') change = 'duplicates-removed';
  } else {
    const headerIndex = lines.findIndex((l) => l.kind === 'section' && l.section === sec);
    const needsEolFirst = !endsWithEol && text.length > 0;
    if (headerIndex >= 0) {
      let after = headerIndex;
      for (let i = headerIndex + 1; i < lines.length && lines[i]!.kind !== 'section'; i++)
        if (lines[i]!.kind === 'key') after = i;
      if (after === lines.length - 1 && needsEolFirst) out[after] += eol;
      out.splice(after + 1, 0, `${key}=true${after === lines.length - 1 && !endsWithEol ? '' : eol}`);
      keyIndex = after + 1;
      change = 'key-added';
    } else {
      const lastBlank = lines.length === 0 || lines[lines.length - 1]!.kind === 'blank';
      const prefix = (needsEolFirst ? eol : '') + (lastBlank ? '' : eol);
      out.push(`${prefix}[${section}]${eol}${key}=true${eol}`);
      keyIndex = out.length - 1;
      change = 'section-added';
    }
  }
  const result = out.join('');
  if (change === 'none')
    return { text, changed: false, change, previous, line: lineOf(out, keyIndex), duplicatesRemoved: 0 };
  verify(text, result, section, key);
  return {
    text: result,
    changed: true,
    change,
    previous,
    line: lineOf(out, keyIndex),
    duplicatesRemoved: removed,
  };
}

/** 1-based line number of out[index]'s key line (section-added entries hold several lines). */
function lineOf(out: string[], index: number): number {
  const before = out.slice(0, index).join('');
  const own = out[index] ?? '';
  const lines = before.split('\n').length;
  // The key is the last line of a section-added entry.
  const ownLines = own.replace(/\r?\n$/, '').split('\n').length;
  return lines + ownLines - 1;
}

/** `Rescan-On-Resize = false ; why` → `Rescan-On-Resize = true ; why`. */
function withTrueValue(lineText: string, key: string): string {
  const m =
    /^([ \t]*[A-Za-z][A-Za-z0-9_-]*)([ \t]*)(=?)([ \t]*)([^;#\r\n]*?)([ \t]*)((?:[;#][^\n]*)?)(\r?\n)?$/.exec(
      lineText,
    );
  if (!m) return `${key}=true${lineText.endsWith('\r\n') ? '\r\n' : lineText.endsWith('\n') ? '\n' : ''}`;
  const [, name, sp1, eq, sp2, , sp3, comment, end] = m;
  // A quoted value with a ';' inside is rare here; the value span above stops at the first comment char.
  return `${name}${sp1}${eq || '='}${sp2}true${comment ? sp3 || ' ' : ''}${comment}${end ?? ''}`;
}

function lowerKeys(v: unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const key = k.toLowerCase();
    const prev = out[key];
    const next = lowerKeys(val);
    out[key] =
      prev && typeof prev === 'object' && next && typeof next === 'object' ? { ...prev, ...next } : next;
  }
  return out;
}

/**
 * The `ini` package's reading of before and after must differ only in the one key: it reads true
 * after, and nothing else changed.
 */
function verify(before: string, after: string, section: string, key: string): void {
  // `ini` does not take a comment after a section header (gcfg does): it reads the headers without.
  const forIni = (text: string) => text.replace(/^(\s*\[[^\]\r\n]*\])[ \t]*[;#][^\r\n]*/gm, '$1');
  const a = lowerKeys(parseIni(forIni(before))) as Record<string, Record<string, unknown>>;
  const b = lowerKeys(parseIni(forIni(after))) as Record<string, Record<string, unknown>>;
  const sec = section.toLowerCase();
  const k = key.toLowerCase();
  const got = b[sec]?.[k];
  if (got !== true && got !== 'true')
    throw new CloudConfigParseError(`after the edit, [${section}] ${key} does not read as true`);
  if (a[sec]) delete a[sec][k];
  delete b[sec]![k];
  if (a[sec] && Object.keys(a[sec]).length === 0) delete a[sec];
  if (Object.keys(b[sec]!).length === 0) delete b[sec];
  if (JSON.stringify(sortDeep(a)) !== JSON.stringify(sortDeep(b)))
    throw new CloudConfigParseError('the edit would change other keys (refused)');
}

function sortDeep(v: unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.keys(v as object)
      .sort()
      .map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]),
  );
}
