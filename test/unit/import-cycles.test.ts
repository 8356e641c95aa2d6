/**
 * No import cycle under src/, type-only imports counted: ESLint's import-x/no-cycle skips
 * `import type`, yet a type cycle still ties two modules together (neither can be read, moved or
 * tested without the other). The graph comes from TypeScript's own pre-processor (every import,
 * export-from and `import()` of each file), relative specifiers resolved as the compiler would.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const SRC = resolve(__dirname, '..', '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** `./x` → x.ts or x/index.ts next to `from`; packages are not part of the graph. */
function resolveImport(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier.replace(/\.js$/, ''));
  return [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p));
}

function importGraph(files: string[]): Map<string, string[]> {
  return new Map(
    files.map((file) => {
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const deps = info.importedFiles
        .map((f) => resolveImport(file, f.fileName))
        .filter((d): d is string => d !== undefined);
      return [file, [...new Set(deps)]];
    }),
  );
}

/** Strongly connected components of more than one module, or a module importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) !== indexOf.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return found;
}

test('src/ has no import cycle, type-only imports included', () => {
  const graph = importGraph(sourceFiles(SRC));
  expect(graph.size).toBeGreaterThan(50);
  const named = cycles(graph).map((c) => c.map((f) => relative(SRC, f)));
  expect(named).toEqual([]);
});

test('the check sees a cycle made of type-only imports', () => {
  const graph = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['a.ts']],
    ['c.ts', ['a.ts']],
  ]);
  expect(cycles(graph)).toEqual([['a.ts', 'b.ts']]);
  const src = "import type { B } from './b';\nexport type { C } from './c';\n";
  expect(ts.preProcessFile(src, true, true).importedFiles.map((f) => f.fileName)).toEqual(['./b', './c']);
});
