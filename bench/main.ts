/**
 * `npm run bench -- <name> [--option value ...]`: benchmarks against the guide's own scripts on
 * fresh simulators. Not tests: they print figures. Names: calico.
 */
import { benchCalico, calicoOptionsFrom } from './calico';

const BENCHES: Record<string, (args: Record<string, string>) => Promise<void>> = {
  calico: (args) => benchCalico(calicoOptionsFrom(args)),
};

function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
    out[k] = v ?? argv[++i] ?? '';
  }
  return out;
}

async function main(): Promise<void> {
  const [name = 'calico', ...rest] = process.argv.slice(2);
  const bench = BENCHES[name];
  if (!bench) throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
  await bench(parseArgs(rest));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
