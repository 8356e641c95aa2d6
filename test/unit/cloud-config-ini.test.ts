/**
 * The cloud-config edit of cinderRescanOnResize: `rescan-on-resize=true` in [BlockStorage], set once,
 * every other byte kept.
 */
import { CloudConfigParseError, setBooleanTrue, tokenize } from '../../src/activities/kube/cloud-config-ini';

const set = (text: string) => setBooleanTrue(text, 'BlockStorage', 'rescan-on-resize');

/** The result minus the lines that differ must be the input: removes `removed` from `after`. */
function without(after: string, removed: string): string {
  const i = after.indexOf(removed);
  expect(i).toBeGreaterThanOrEqual(0);
  return after.slice(0, i) + after.slice(i + removed.length);
}

const GLOBAL = '[Global]\nauth-url=https://example/v2.0\nusername=u\npassword=p;not-a-comment?\nregion=KR1\n';

describe('setBooleanTrue (cloud-config INI edit)', () => {
  test('no [BlockStorage]: the section is appended once, everything before it byte-identical', () => {
    const r = set(GLOBAL);
    expect(r.changed).toBe(true);
    expect(r.change).toBe('section-added');
    expect(r.previous).toBe('absent');
    expect(r.text).toBe(`${GLOBAL}\n[BlockStorage]\nrescan-on-resize=true\n`);
    expect(r.text.startsWith(GLOBAL)).toBe(true);
    expect(r.text.split('\n')[r.line - 1]).toBe('rescan-on-resize=true');
    // A second edit of the result changes nothing.
    const again = set(r.text);
    expect(again).toMatchObject({ changed: false, change: 'none', previous: 'true' });
    expect(again.text).toBe(r.text);
  });

  test('file without a final newline: one is added before the new section', () => {
    const text = GLOBAL.trimEnd();
    const r = set(text);
    expect(r.text).toBe(`${text}\n\n[BlockStorage]\nrescan-on-resize=true\n`);
  });

  test('file ending in a blank line: no extra blank line', () => {
    const r = set(`${GLOBAL}\n`);
    expect(r.text).toBe(`${GLOBAL}\n[BlockStorage]\nrescan-on-resize=true\n`);
  });

  test('[BlockStorage] at the end without a final newline: the key is added after its last key', () => {
    const text = `${GLOBAL}[BlockStorage]\nbs-version=v2`;
    const r = set(text);
    expect(r.change).toBe('key-added');
    expect(r.text).toBe(`${GLOBAL}[BlockStorage]\nbs-version=v2\nrescan-on-resize=true`);
    expect(r.text.split('\n')[r.line - 1]).toBe('rescan-on-resize=true');
  });

  test('[BlockStorage] header alone at the end, no newline', () => {
    const r = set(`${GLOBAL}[BlockStorage]`);
    expect(r.text).toBe(`${GLOBAL}[BlockStorage]\nrescan-on-resize=true`);
  });

  test('[BlockStorage] in the middle: key added after its last key, comments and the next section kept', () => {
    const text =
      '[Global]\nregion=KR1\n\n[BlockStorage]\n; block storage\nbs-version=v2\n# trailing comment\n\n[Metadata]\nsearch-order=configDrive\n';
    const r = set(text);
    expect(r.change).toBe('key-added');
    expect(without(r.text, 'rescan-on-resize=true\n')).toBe(text);
    expect(r.text).toContain('bs-version=v2\nrescan-on-resize=true\n# trailing comment\n');
  });

  test('key present as false (spaces, other case, inline comment): only its value changes', () => {
    const text = `${GLOBAL}\n[blockstorage]\nRescan-On-Resize  =  false ; set by hand\nignore-volume-az = true\n`;
    const r = set(text);
    expect(r.change).toBe('value-set');
    expect(r.previous).toBe('false');
    expect(r.text).toBe(
      `${GLOBAL}\n[blockstorage]\nRescan-On-Resize  =  true ; set by hand\nignore-volume-az = true\n`,
    );
  });

  test.each([
    ['rescan-on-resize=true', 'true'],
    ['rescan-on-resize = yes', 'true'],
    ['RESCAN-ON-RESIZE=1', 'true'],
    ['rescan-on-resize', 'true'],
    ['rescan-on-resize = "true"', 'true'],
    ['rescan-on-resize=true # already', 'true'],
  ])('already set (%s): unchanged, byte-identical', (line, previous) => {
    const text = `${GLOBAL}[BlockStorage]\n${line}\n`;
    const r = set(text);
    expect(r).toMatchObject({ changed: false, change: 'none', previous });
    expect(r.text).toBe(text);
  });

  test.each(['off', 'no', '0', 'False', 'maybe', ''])('value %p becomes true', (value) => {
    const text = `[BlockStorage]\nrescan-on-resize=${value}\n`;
    const r = set(text);
    expect(r.changed).toBe(true);
    expect(r.text).toBe('[BlockStorage]\nrescan-on-resize=true\n');
    expect(r.previous).toBe(value === 'maybe' || value === '' ? 'not-a-boolean' : 'false');
  });

  test('duplicates in the section: the first is set, later ones removed (gcfg lets the last win)', () => {
    const text = '[BlockStorage]\nrescan-on-resize=false\nbs-version=v2\nrescan-on-resize=false\n';
    const r = set(text);
    expect(r.text).toBe('[BlockStorage]\nrescan-on-resize=true\nbs-version=v2\n');
    expect(r.duplicatesRemoved).toBe(1);
    expect(set(r.text).changed).toBe(false);
  });

  test('the key in another section does not count', () => {
    const text = '[Global]\nrescan-on-resize=true\n';
    const r = set(text);
    expect(r.change).toBe('section-added');
    expect(r.text).toBe('[Global]\nrescan-on-resize=true\n\n[BlockStorage]\nrescan-on-resize=true\n');
  });

  test('[BlockStorage] twice: the key goes into the first; the second stays as it was', () => {
    const text =
      '[BlockStorage]\nbs-version=v2\n[Global]\nregion=KR1\n[BlockStorage]\nignore-volume-az=true\n';
    const r = set(text);
    expect(without(r.text, 'rescan-on-resize=true\n')).toBe(text);
    expect(r.text.indexOf('rescan-on-resize')).toBeLessThan(r.text.indexOf('[Global]'));
  });

  test('CRLF file: CRLF line endings everywhere, other bytes kept', () => {
    const text = '[Global]\r\nregion=KR1\r\n; comment\r\n';
    const r = set(text);
    expect(r.text).toBe(
      '[Global]\r\nregion=KR1\r\n; comment\r\n\r\n[BlockStorage]\r\nrescan-on-resize=true\r\n',
    );
    const inSection = set('[Global]\r\nregion=KR1\r\n[BlockStorage]\r\nrescan-on-resize = false ;x\r\n');
    expect(inSection.text).toBe('[Global]\r\nregion=KR1\r\n[BlockStorage]\r\nrescan-on-resize = true ;x\r\n');
    const added = set('[BlockStorage]\r\nbs-version=v2\r\n');
    expect(added.text).toBe('[BlockStorage]\r\nbs-version=v2\r\nrescan-on-resize=true\r\n');
  });

  test('comments with ; and # and indented lines are kept byte for byte', () => {
    const text =
      '# generated by NKS\n; do not edit\n[Global]\n  auth-url = https://x  # inline\n\tregion=KR1\n[BlockStorage] ; storage\n    ; indented comment\n';
    const r = set(text);
    expect(without(r.text, 'rescan-on-resize=true\n')).toBe(text);
    expect(r.text).toContain('[BlockStorage] ; storage\nrescan-on-resize=true\n');
  });

  test('empty file: just the section', () => {
    expect(set('').text).toBe('[BlockStorage]\nrescan-on-resize=true\n');
  });

  test('subsections ([Section "name"]) are sections of their own', () => {
    const text = '[BlockStorage "other"]\nrescan-on-resize=false\n';
    const r = set(text);
    expect(r.change).toBe('section-added');
    expect(r.text.startsWith(text)).toBe(true);
  });

  test.each([
    ['a key before any section', 'auth-url=x\n[Global]\n', /line 1: a key before the first \[section\]/],
    ['a line that is nothing', '[Global]\nthis is not ini\n', /line 2: neither/],
    ['an unclosed section header', '[Global\nregion=KR1\n', /line 1: neither/],
    ['an unterminated quote', '[Global]\npassword="abc\n', /line 2: unterminated quoted value/],
  ])('refuses %s with a line number and no content', (_what, text, message) => {
    let caught: unknown;
    try {
      set(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CloudConfigParseError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toMatch(/abc|region|auth-url=x|this is not/);
  });

  test('tokenize: CRLF detection and lines', () => {
    const t = tokenize('[A]\r\nk=v\r\n');
    expect(t.eol).toBe('\r\n');
    expect(t.lines.map((l) => l.kind)).toEqual(['section', 'key']);
    expect(t.lines.map((l) => l.text).join('')).toBe('[A]\r\nk=v\r\n');
  });
});
