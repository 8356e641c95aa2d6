/**
 * `nksr run <procedure> --some-option value ...`: options the run command does not know become
 * fields of the procedure's input (`--max-parallel 4` → `maxParallel: 4`), so each procedure's
 * options need no CLI code; the procedure's schema validates them.
 */
import { CliError } from './common';

function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function value(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

export function parseProcedureOptions(args: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--') || arg === '--') {
      throw new CliError(`unexpected argument "${arg}" (procedure options look like --name value)`, 2);
    }
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    if (eq >= 0) {
      out[camel(body.slice(0, eq))] = value(body.slice(eq + 1));
    } else if (body.startsWith('no-')) {
      out[camel(body.slice(3))] = false;
    } else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) {
      out[camel(body)] = value(args[++i]!);
    } else {
      out[camel(body)] = true;
    }
  }
  return out;
}

/**
 * The input `run` and `schedule create` start a procedure with: --input-json, overridden by the
 * procedure's own options, then by --cluster and --dry-run. A cluster is required.
 */
export function procedureInput(
  opts: { inputJson?: string; cluster?: string; dryRun?: boolean; waitLock?: boolean },
  args: string[],
): Record<string, unknown> {
  let input: Record<string, unknown> = {};
  if (opts.inputJson) {
    try {
      input = JSON.parse(opts.inputJson) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`--input-json is not valid JSON: ${(err as Error).message}`, 2);
    }
    if (!input || typeof input !== 'object' || Array.isArray(input))
      throw new CliError('--input-json must be a JSON object', 2);
  }
  Object.assign(input, parseProcedureOptions(args));
  if (opts.cluster) input.cluster = opts.cluster;
  if (opts.dryRun) input.dryRun = true;
  if (opts.waitLock === false) input.failIfLocked = true;
  if (!input.cluster) throw new CliError('--cluster is required', 2);
  return input;
}
