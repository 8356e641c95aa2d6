/**
 * `npm run generate`: writes what derives from the procedure registry (src/common/procedures) and is
 * committed: schemas/<workflowType>.json (each procedure's input as JSON Schema, for the Temporal CLI,
 * the UI and other services), deploy/rbac/ (one least-privilege role per procedure, from the
 * entries' `permissions`: src/client/rbac-manifests.ts) and deploy/target-cluster-rbac.yaml (all of
 * them).
 *
 *   npm run generate               write the files (and delete schemas and roles of procedures no longer registered)
 *   npm run generate -- --check    write nothing; exit 1 naming every stale file (CI)
 *
 * The functions above `main` are pure (test/unit/procedure-registry.test.ts compares them with the
 * files). Their output is already in Prettier's style, so `npm run format` leaves the files alone;
 * `main` checks that, since a Prettier that reformatted them would make --check fail forever.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { procedureInputJsonSchema } from '../src/client/cli/procedure-help';
import {
  CHART_RBAC_FILE,
  chartRbacTemplate,
  RBAC_DIR,
  RBAC_FILE,
  rbacFiles,
  rbacYaml,
} from '../src/client/rbac-manifests';
import { ALL_PROCEDURES, type ProcedureDefinition } from '../src/common/procedures';

export const REPO_ROOT = join(__dirname, '..');
export const SCHEMAS_DIR = 'schemas';

const PRINT_WIDTH = 110; // .prettierrc

// ---------------------------------------------------------------------------------------------
// JSON, as Prettier prints it: objects expanded (Prettier keeps an object expanded when its first
// key is on a new line), an array of scalars on one line when that line fits, else one per line.

function fitsOnOneLine(prefix: number, text: string, suffix: number): boolean {
  return prefix + text.length + suffix <= PRINT_WIDTH && !text.includes('\n');
}

function jsonValue(value: unknown, indent: string, prefix: number, suffix: number): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = `${indent}  `;
    if (value.every((v) => v === null || typeof v !== 'object')) {
      const flat = `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
      if (fitsOnOneLine(prefix, flat, suffix)) return flat;
    }
    const items = value.map(
      (v, i) => `${inner}${jsonValue(v, inner, inner.length, i < value.length - 1 ? 1 : 0)}`,
    );
    return `[\n${items.join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    const lines = entries.map(([k, v], i) => {
      const key = `${inner}${JSON.stringify(k)}: `;
      return `${key}${jsonValue(v, inner, key.length, i < entries.length - 1 ? 1 : 0)}`;
    });
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

export function formatJson(value: unknown): string {
  return `${jsonValue(value, '', 0, 0)}\n`;
}

// ---------------------------------------------------------------------------------------------
// schemas/

export function schemaPath(entry: ProcedureDefinition): string {
  return `${SCHEMAS_DIR}/${entry.workflowType}.json`;
}

export function schemaFiles(
  procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES,
): Map<string, string> {
  return new Map(procedures.map((p) => [schemaPath(p), formatJson(procedureInputJsonSchema(p))]));
}

// ---------------------------------------------------------------------------------------------

/** Every generated file: path relative to the repository → content. */
export function generatedFiles(
  procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES,
): Map<string, string> {
  return new Map([
    ...schemaFiles(procedures),
    ...rbacFiles(procedures),
    [RBAC_FILE, rbacYaml(procedures)],
    [CHART_RBAC_FILE, chartRbacTemplate(procedures)],
  ]);
}

/** Files that differ from what the registry generates, and schemas no procedure generates any more. */
export function staleFiles(
  root = REPO_ROOT,
  files = generatedFiles(),
): { changed: string[]; orphaned: string[] } {
  const changed = [...files].filter(([path, content]) => {
    const abs = join(root, path);
    return !existsSync(abs) || readFileSync(abs, 'utf8') !== content;
  });
  const orphansIn = (folder: string, ext: string) => {
    const dir = join(root, folder);
    return existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith(ext))
          .map((f) => `${folder}/${f}`)
          .filter((path) => !files.has(path))
      : [];
  };
  const orphaned = [...orphansIn(SCHEMAS_DIR, '.json'), ...orphansIn(RBAC_DIR, '.yaml')];
  return { changed: changed.map(([path]) => path), orphaned };
}

/** Prettier must leave the output as it is (format:check runs over these files too). */
async function checkPrettierStable(files: Map<string, string>): Promise<string[]> {
  const prettier = await import('prettier');
  const unstable: string[] = [];
  for (const [path, content] of files) {
    if (path === CHART_RBAC_FILE) continue;
    const abs = join(REPO_ROOT, path);
    const options = await prettier.resolveConfig(abs);
    if ((await prettier.format(content, { ...options, filepath: abs })) !== content) unstable.push(path);
  }
  return unstable;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    process.stderr.write(`generate: unknown argument(s) ${unknown.join(' ')}; usage: generate [--check]\n`);
    return 2;
  }
  const check = argv.includes('--check');
  const files = generatedFiles();
  const unstable = await checkPrettierStable(files);
  if (unstable.length) {
    process.stderr.write(
      `generate: Prettier would reformat the output for ${unstable.join(', ')}: ` +
        'make scripts/generate.ts print what Prettier prints\n',
    );
    return 1;
  }
  const { changed, orphaned } = staleFiles(REPO_ROOT, files);
  if (check) {
    if (changed.length + orphaned.length === 0) {
      console.log(`generated files are up to date (${files.size})`);
      return 0;
    }
    for (const path of changed) process.stderr.write(`stale: ${path}\n`);
    for (const path of orphaned) process.stderr.write(`stale: ${path} (no registered procedure has it)\n`);
    process.stderr.write('generated files are stale: run `npm run generate` and commit the result\n');
    return 1;
  }
  for (const path of changed) {
    const abs = join(REPO_ROOT, path);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, files.get(path)!);
    console.log(`wrote ${relative(process.cwd(), abs) || path}`);
  }
  for (const path of orphaned) {
    rmSync(join(REPO_ROOT, path));
    console.log(`deleted ${path} (no registered procedure has it)`);
  }
  if (changed.length + orphaned.length === 0) console.log(`generated files are up to date (${files.size})`);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
