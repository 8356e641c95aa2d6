/**
 * `nksr run --help` and `nksr run <procedure> --help`, derived from the procedure registry: the
 * procedure's description and every input field (flag, type, default, description) as its JSON Schema
 * states them. The same JSON Schema is written to schemas/ by scripts/generate.ts, so the help, the
 * schemas and the validation at the workflow's edge cannot disagree. Describe a field with zod's
 * `.describe('one line')` in the procedure's input schema: that line is its help text.
 */
import { z } from 'zod';
import { ALL_PROCEDURES, type ProcedureDefinition } from '../../common/procedures';

/** The subset of JSON Schema that zod emits for our input schemas (and that the help reads). */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  [key: string]: unknown;
}

/** Where schemas/<workflowType>.json says it comes from; not a URL anyone serves. */
export function schemaId(workflowType: string): string {
  return `urn:nks-remediation:input:${workflowType}`;
}

/**
 * The JSON Schema of a procedure's input as a client sends it (`io: 'input'`: fields with a default
 * are optional), headed by the entry's identity. What schemas/<workflowType>.json holds.
 */
export function procedureInputJsonSchema(entry: ProcedureDefinition): JsonSchema {
  const { $schema, ...rest } = z.toJSONSchema(entry.inputSchema, { io: 'input' }) as JsonSchema;
  return {
    ...($schema ? { $schema } : {}),
    $id: schemaId(entry.workflowType),
    title: `${entry.workflowType} input`,
    description: entry.description,
    ...rest,
  };
}

/** `maxParallel` → `--max-parallel` (what procedure-options.ts turns back into `maxParallel`). */
export function flagOf(field: string): string {
  return `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** zod's `.int()` bounds are the safe-integer range: no bound worth printing. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function range(lo: number | undefined, hi: number | undefined, unit = ''): string {
  const low = lo !== undefined && lo > -UNBOUNDED ? lo : undefined;
  const high = hi !== undefined && hi < UNBOUNDED ? hi : undefined;
  if (low !== undefined && high !== undefined) return ` ${low}–${high}${unit}`;
  if (low !== undefined) return ` ≥ ${low}${unit}`;
  if (high !== undefined) return ` ≤ ${high}${unit}`;
  return '';
}

/** `integer 1–200`, `one of: a, b`, `string, 1–200 chars`, `boolean`, `array of string`, … */
export function typeOf(s: JsonSchema): string {
  if (s.enum) return `one of ${s.enum.map(show).join(' | ')}`;
  if (s.const !== undefined) return `exactly ${show(s.const)}`;
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' or ');
  const type = Array.isArray(s.type) ? s.type.join(' or ') : (s.type ?? 'any');
  switch (type) {
    case 'integer':
    case 'number':
      return `${type}${range(s.minimum ?? s.exclusiveMinimum, s.maximum ?? s.exclusiveMaximum)}`;
    case 'string': {
      const length = range(s.minLength, s.maxLength, ' chars');
      return length ? `string,${length}` : 'string';
    }
    case 'array':
      return `array of ${s.items ? typeOf(s.items) : 'any'}${range(s.minItems, s.maxItems, ' items').replace(/^ /, '; ')}`;
    default:
      return type;
  }
}

export interface FieldHelp {
  field: string;
  flag: string;
  /** `--flag <integer>`, `--flag` alone for a boolean, the bare field name when JSON only. */
  usage: string;
  type: string;
  required: boolean;
  /** As printed: `10`, `kube-system`, `false`; undefined when the field has none. */
  default?: string;
  description?: string;
  /** Objects and arrays cannot be given as flags: --input-json. */
  jsonOnly: boolean;
}

/** One entry per input field, in the schema's order. */
/** Input fields the clients fill in themselves (nksr run signs the request): no flag of their own. */
export const CLIENT_SET_FIELDS: readonly string[] = ['requestSignature'];

export function procedureFields(entry: ProcedureDefinition): FieldHelp[] {
  const schema = procedureInputJsonSchema(entry);
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(schema.properties ?? {}).filter(([f]) => !CLIENT_SET_FIELDS.includes(f));
  return fields.map(([field, s]) => {
    const flag = flagOf(field);
    const type = typeOf(s);
    const jsonOnly = s.type === 'object' || s.type === 'array';
    return {
      field,
      flag,
      usage: jsonOnly
        ? field
        : s.type === 'boolean'
          ? flag
          : `${flag} <${typeof s.type === 'string' && !s.enum ? s.type : 'value'}>`,
      type,
      required: required.has(field),
      ...(s.default !== undefined ? { default: show(s.default) } : {}),
      ...(s.description ? { description: s.description } : {}),
      jsonOnly,
    };
  });
}

function placeholder(f: FieldHelp): string {
  return f.field === 'cluster' ? '<name>' : `<${f.field}>`;
}

/** Example command lines: a dry run first for a procedure that changes the cluster. */
export function exampleCommands(entry: ProcedureDefinition): string[] {
  const fields = procedureFields(entry);
  const required = fields
    .filter((f) => f.required)
    .map((f) => `${f.flag} ${placeholder(f)}`)
    .join(' ');
  const base = `nksr run ${entry.cliName}${required ? ` ${required}` : ''}`;
  const hasDryRun = fields.some((f) => f.field === 'dryRun');
  if (entry.mutates && hasDryRun) {
    return [`${base} --dry-run --wait   # the plan; nothing changes`, `${base} --wait`];
  }
  return [`${base} --wait`];
}

const RUN_OPTIONS: [string, string][] = [
  ['--wait', 'wait for the result and print its report'],
  ['--json', 'machine-readable output'],
  ['--task-queue <queue>', 'task queue (default NKSR_TASK_QUEUE or nks-remediation)'],
  ['--input-json <json>', 'input as one JSON object; flags override its fields'],
  ['--sign-key <file>', 'sign the request with this approver key (default: yours, if it exists)'],
  ['--no-sign', 'start the run unsigned'],
];

function columns(rows: [string, string][], indent: string): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`.trimEnd());
}

/** `nksr run <procedure> --help`. */
export function formatProcedureHelp(entry: ProcedureDefinition): string {
  const fields = procedureFields(entry);
  const traits = [
    entry.mutates ? 'changes the cluster' : 'read-only',
    entry.usesSsh ? 'uses SSH to the nodes (clusters.yaml ssh:)' : 'Kubernetes API only, no SSH',
    ...(entry.guide ? [`guide: ${entry.guide}`] : []),
  ];
  const lines = [
    `nksr run ${entry.cliName}: ${entry.description}`,
    '',
    `Workflow type ${entry.workflowType}; ${traits.join('; ')}.`,
    '',
    `Usage: nksr run ${entry.cliName} --cluster <name> [input flags] [--wait] [--json]`,
    '',
    'Input fields (flag, type, default), validated before the run starts and again by the workflow:',
  ];
  const rows: [string, string][] = fields.map((f) => [
    f.usage,
    [f.type, f.required ? 'required' : f.default !== undefined ? `default ${f.default}` : 'optional']
      .concat(f.jsonOnly ? ['only via --input-json'] : [])
      .join(', '),
  ]);
  const width = Math.max(...rows.map(([left]) => left.length));
  fields.forEach((f, i) => {
    const [left, right] = rows[i]!;
    lines.push(`  ${left.padEnd(width)}  ${right}`);
    if (f.description) lines.push(`      ${f.description}`);
  });
  lines.push(
    '  A boolean flag alone sets true; --no-<flag> sets false. --name=value works too.',
    '',
    'Run options:',
    ...columns(RUN_OPTIONS, '  '),
    '',
    'Example:',
    ...exampleCommands(entry).map((c) => `  ${c}`),
    '',
    `JSON Schema of the input: schemas/${entry.workflowType}.json`,
  );
  return `${lines.join('\n')}\n`;
}

/** The procedure list of `nksr run --help`: CLI name and one-line description. */
export function formatProcedureList(procedures: readonly ProcedureDefinition[] = ALL_PROCEDURES): string {
  return [
    'Procedures:',
    ...columns(
      procedures.map((p) => [p.cliName, p.description]),
      '  ',
    ),
    '',
    "Input fields of one: nksr run <procedure> --help (the procedure's own options become input fields:",
    '--max-parallel 4 → maxParallel: 4).',
  ].join('\n');
}
