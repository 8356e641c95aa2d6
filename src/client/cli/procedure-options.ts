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
