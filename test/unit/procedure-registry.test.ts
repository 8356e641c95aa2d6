/**
 * The procedure registry (src/common/procedures) and what derives from it: the worker's workflow
 * exports, the README's procedure table, the committed JSON Schemas and RBAC (scripts/generate.ts),
 * and `nksr run [<procedure>] --help`. A new procedure that forgets one of them fails here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  CLIENT_SET_FIELDS,
  flagOf,
  procedureFields,
  procedureInputJsonSchema,
} from '../../src/client/cli/procedure-help';
import { parseProcedureOptions } from '../../src/client/cli/procedure-options';
import { main } from '../../src/client/cli/main';
import { ALL_PROCEDURES, findProcedure } from '../../src/common/procedures';
import { describeServedProcedures } from '../../src/worker/served-procedures';
import { registryFromEntries } from '../../src/worker/registry';
import { generatedFiles, REPO_ROOT, staleFiles } from '../../scripts/generate';
import {
  clusterRbacYaml,
  RBAC_DIR,
  RBAC_FILE,
  rbacYaml,
  roleName,
  SERVICE_ACCOUNT,
} from '../../src/client/rbac-manifests';
import type { ClusterEntry } from '../../src/common/registry-schema';

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

describe('registry entries', () => {
  test('every workflow the worker exports is a registered procedure or a declared child, and back', () => {
    // The worker's workflowsPath: its exports are every workflow type the worker runs.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exported = Object.entries(require('../../src/workflows') as Record<string, unknown>)
      .filter(([, v]) => typeof v === 'function')
      .map(([name]) => name)
      .sort();
    const registered = ALL_PROCEDURES.flatMap((p) => [p.workflowType, ...(p.childWorkflowTypes ?? [])]);
    const known = new Set(registered);
    expect(exported.filter((w) => !known.has(w))).toEqual([]); // exported but not registered
    expect([...known].filter((w) => !exported.includes(w))).toEqual([]); // registered but not exported
  });

  test('cliName is the kebab-case of workflowType; names are unique', () => {
    for (const p of ALL_PROCEDURES) expect(p.cliName).toBe(kebab(p.workflowType));
    const names = ALL_PROCEDURES.flatMap((p) => [p.workflowType, p.cliName]);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const p of ALL_PROCEDURES) {
      expect(findProcedure(p.cliName)).toBe(p);
      expect(findProcedure(p.workflowType)).toBe(p);
    }
  });

  test('every entry has a one-line description and at least one permission with a why', () => {
    for (const p of ALL_PROCEDURES) {
      expect(p.description.trim()).not.toBe('');
      expect(p.description).not.toContain('\n');
      expect(p.permissions.length).toBeGreaterThan(0);
      for (const k of p.permissions) expect(k.why.trim()).not.toBe('');
    }
  });

  test("every input field has a description (zod's .describe): it is the field's --help line", () => {
    const undescribed = ALL_PROCEDURES.flatMap((p) =>
      procedureFields(p)
        .filter((f) => !f.description)
        .map((f) => `${p.workflowType}.${f.field}`),
    );
    expect(undescribed).toEqual([]);
  });

  test('every input field can be given as the flag the help names (--max-parallel → maxParallel)', () => {
    for (const p of ALL_PROCEDURES)
      for (const f of procedureFields(p)) {
        if (f.jsonOnly) continue;
        expect(f.flag).toBe(flagOf(f.field));
        expect(Object.keys(parseProcedureOptions([f.flag, 'x']))).toEqual([f.field]);
      }
  });
});

describe('README', () => {
  /** Rows of the markdown table under `## Procedures`, cells without backticks. */
  function procedureTable(): string[][] {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.split(/^## /m).find((s) => s.startsWith('Procedures\n'));
    if (!section) throw new Error('README.md has no "## Procedures" section');
    const rows = section
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .map((l) =>
        l
          .slice(1, l.trimEnd().endsWith('|') ? l.trimEnd().length - 1 : undefined)
          .split('|')
          .map((c) => c.trim().replace(/^`(.*)`$/, '$1')),
      );
    expect(rows[0]).toEqual(['CLI name', 'workflow type', 'what it fixes', 'status']);
    expect(rows[1]!.every((c) => /^:?-+:?$/.test(c))).toBe(true);
    return rows.slice(2);
  }

  test('the procedure table lists exactly the registered procedures, with their descriptions', () => {
    const rows = procedureTable();
    expect(rows.map((r) => r.slice(0, 3))).toEqual(
      ALL_PROCEDURES.map((p) => [p.cliName, p.workflowType, p.description]),
    );
    for (const r of rows) expect(r[3]).not.toBe('');
  });
});

describe('generated files (npm run generate)', () => {
  test('schemas/ and the RBAC are up to date with the registry', () => {
    const { changed, orphaned } = staleFiles();
    expect({ changed, orphaned }).toEqual({ changed: [], orphaned: [] });
    for (const [path, content] of generatedFiles())
      expect(readFileSync(join(REPO_ROOT, path), 'utf8')).toBe(content);
  });

  test('each schema is the input schema of its entry, with its identity', () => {
    for (const p of ALL_PROCEDURES) {
      const schema = JSON.parse(
        readFileSync(join(REPO_ROOT, `schemas/${p.workflowType}.json`), 'utf8'),
      ) as Record<string, unknown>;
      expect(schema).toEqual(procedureInputJsonSchema(p));
      expect(schema).toMatchObject({
        title: expect.stringContaining(p.workflowType),
        description: p.description,
      });
      expect(schema.$id).toEqual(expect.stringContaining(p.workflowType));
      expect(schema.additionalProperties).toBe(false);
    }
  });

  interface Rule {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
    resourceNames?: string[];
  }
  interface K8sObject {
    kind: string;
    metadata: { name: string; namespace?: string };
    rules?: Rule[];
    roleRef?: { kind: string; name: string };
    subjects?: { kind: string; name: string; namespace: string }[];
  }

  /** `scope apiGroup resource verb name` for each (resource, verb, name) a rule grants. */
  function grants(scope: string, rule: Rule): string[] {
    return rule.apiGroups.flatMap((g) =>
      rule.resources.flatMap((r) =>
        rule.verbs.flatMap((v) =>
          (rule.resourceNames ?? ['(any)']).map((n) => `${scope} ${g} ${r} ${v} ${n}`),
        ),
      ),
    );
  }

  const docsOf = (text: string): K8sObject[] =>
    parseAllDocuments(text).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS() as K8sObject;
    });
  const grantsOf = (docs: K8sObject[]) =>
    docs.flatMap((o) =>
      o.kind === 'ClusterRole' || o.kind === 'Role'
        ? (o.rules ?? []).flatMap((r) => grants(o.kind === 'Role' ? o.metadata.namespace! : '(cluster)', r))
        : [],
    );
  const wantedOf = (permissions: (typeof ALL_PROCEDURES)[number]['permissions']) =>
    permissions.flatMap((k) =>
      grants(k.namespace ?? '(cluster)', {
        apiGroups: [k.apiGroup],
        resources: [...k.resources],
        verbs: [...k.verbs],
        ...(k.resourceNames ? { resourceNames: [...k.resourceNames] } : {}),
      }),
    );
  /** Every role has a binding of its name, kind and namespace to the ServiceAccount. */
  const expectBound = (docs: K8sObject[], subject: { name: string; namespace: string } = SERVICE_ACCOUNT) => {
    for (const role of docs.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')) {
      const binding = docs.find(
        (o) =>
          o.kind === `${role.kind}Binding` &&
          o.metadata.name === role.metadata.name &&
          o.metadata.namespace === role.metadata.namespace &&
          o.roleRef?.kind === role.kind &&
          o.roleRef.name === role.metadata.name,
      );
      expect([role.metadata.name, binding?.subjects]).toEqual([
        role.metadata.name,
        [{ kind: 'ServiceAccount', ...subject }],
      ]);
    }
  };

  test('each procedure has a role of its own granting exactly its permissions; a feature’s permissions are in a role of their own', () => {
    for (const p of ALL_PROCEDURES) {
      const own = join(REPO_ROOT, RBAC_DIR, `${roleName(p)}.yaml`);
      const docs = docsOf(readFileSync(own, 'utf8'));
      expect([p.workflowType, [...new Set(grantsOf(docs))].sort()]).toEqual([
        p.workflowType,
        [...new Set(wantedOf(p.permissions.filter((k) => !k.feature)))].sort(),
      ]);
      for (const o of docs.filter((d) => d.kind !== 'ServiceAccount'))
        expect(o.metadata.name).toBe(roleName(p));
      expectBound(docs);
      for (const feature of new Set(p.permissions.flatMap((k) => (k.feature ? [k.feature] : [])))) {
        const fdocs = docsOf(readFileSync(join(REPO_ROOT, RBAC_DIR, `${roleName(p, feature)}.yaml`), 'utf8'));
        expect([...new Set(grantsOf(fdocs))].sort()).toEqual(
          [...new Set(wantedOf(p.permissions.filter((k) => k.feature === feature)))].sort(),
        );
        expectBound(fdocs);
      }
    }
    // The only cluster-wide secret read is the ghcr pull secret report's, in a role of its own.
    const secretReaders = ALL_PROCEDURES.flatMap((p) =>
      p.permissions
        .filter(
          (k) =>
            !k.namespace &&
            k.resources.includes('secrets') &&
            k.verbs.some((v) => ['get', 'list', 'watch'].includes(v)) &&
            !k.resourceNames,
        )
        .map((k) => `${p.workflowType} ${k.feature ?? '(always)'}`),
    );
    expect(secretReaders).toEqual(['ghcrMigration secret-report']);
  });

  test('the all-procedures RBAC grants exactly the union of the entries’ permissions, bound to the ServiceAccount', () => {
    const text = readFileSync(join(REPO_ROOT, RBAC_FILE), 'utf8');
    const docs = docsOf(text);
    const wanted = ALL_PROCEDURES.flatMap((p) => wantedOf(p.permissions));
    expect([...new Set(grantsOf(docs))].sort()).toEqual([...new Set(wanted)].sort());
    expect(text).not.toContain('*');
    expect(text).not.toMatch(/deletecollection/);
    expect(text).toMatch(/generated by `npm run generate`/i);
    expect(text).toMatch(/do not edit by hand/i);
    expect(docs).toContainEqual(
      expect.objectContaining({ kind: 'ServiceAccount', metadata: { ...SERVICE_ACCOUNT } }),
    );
    expectBound(docs);
    // Each permission's reason is written above its rule.
    for (const p of ALL_PROCEDURES)
      for (const k of p.permissions) expect(text).toContain(`# ${p.workflowType}: ${k.why}\n`);
  });

  test('nksr rbac binds only the roles of the procedures and features a cluster enables', () => {
    const entry = (extra: Partial<ClusterEntry>): ClusterEntry => ({
      kubeconfig: '/k',
      nodeAddressType: 'InternalIP',
      ...extra,
    });
    const roles = (e: ClusterEntry) =>
      [
        ...new Set(
          docsOf(clusterRbacYaml('c', e))
            .filter((o) => o.kind.endsWith('Role'))
            .map((o) => o.metadata.name),
        ),
      ].sort();
    expect(roles(entry({ procedures: ['calico-image-repair', 'nfsLockServicesRestart'] }))).toEqual([
      'nksr-calico-image-repair',
      'nksr-nfs-lock-services-restart',
    ]);
    expect(roles(entry({ procedures: ['ghcr-migration'] }))).toEqual(['nksr-ghcr-migration']);
    expect(
      roles(entry({ procedures: ['ghcr-migration'], policy: { ghcrMigration: { secretReport: true } } })),
    ).toEqual(['nksr-ghcr-migration', 'nksr-ghcr-migration-secret-report']);
    // No `procedures:`: every one (the secret report still only when its policy says so).
    expect(roles(entry({}))).toEqual(ALL_PROCEDURES.map((p) => roleName(p)).sort());
    const calicoOnly = docsOf(clusterRbacYaml('c', entry({ procedures: ['calico-image-repair'] })));
    expect(calicoOnly).toContainEqual(
      expect.objectContaining({ kind: 'ServiceAccount', metadata: { ...SERVICE_ACCOUNT } }),
    );
    expectBound(calicoOnly);
    expect([...new Set(grantsOf(calicoOnly))].sort()).toEqual(
      [...new Set(wantedOf(findProcedure('calicoImageRepair')!.permissions))].sort(),
    );
  });

  test('resources with different verbs get rules of their own (no verb granted on a resource that does not use it)', () => {
    const fake = {
      ...ALL_PROCEDURES[0]!,
      permissions: [
        { apiGroup: '', resources: ['nodes'], verbs: ['list'], why: 'a' },
        { apiGroup: '', resources: ['pods'], verbs: ['delete'], why: 'b' },
        { apiGroup: '', resources: ['services'], verbs: ['list'], why: 'c' },
      ],
    };
    const role = parseAllDocuments(rbacYaml([fake]))
      .map((d) => d.toJS() as K8sObject)
      .find((o) => o.kind === 'ClusterRole')!;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['nodes', 'services'], verbs: ['list'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
    ]);
  });

  test('a permission with * is refused', () => {
    const fake = {
      ...ALL_PROCEDURES[0]!,
      permissions: [{ apiGroup: '', resources: ['pods'], verbs: ['*'], why: 'everything' }],
    };
    expect(() => rbacYaml([fake])).toThrow(/\*/);
  });
});

describe('nksr run --help', () => {
  async function nksr(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
    const err = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    try {
      const code = await main(argv);
      return { code, stdout, stderr };
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  }

  test('nksr run calico-image-repair --help names every input field as a flag with its default', async () => {
    const { code, stdout } = await nksr('run', 'calico-image-repair', '--help');
    expect(code).toBe(0);
    const entry = findProcedure('calico-image-repair')!;
    expect(stdout).toContain(entry.description);
    const lines = stdout.split('\n');
    const properties = procedureInputJsonSchema(entry).properties!;
    expect(Object.keys(properties).length).toBeGreaterThan(5);
    for (const [field, schema] of Object.entries(properties)) {
      if (CLIENT_SET_FIELDS.includes(field)) {
        expect(stdout).not.toContain(`--${kebab(field)}`);
        continue;
      }
      const flag = `--${kebab(field)}`;
      const line = lines.find((l) => l.startsWith(`  ${flag} `)) ?? '';
      expect({ field, line }).toEqual({ field, line: expect.stringContaining(flag) });
      if (schema.default !== undefined)
        expect(line).toContain(
          `default ${typeof schema.default === 'string' ? schema.default : JSON.stringify(schema.default)}`,
        );
      if (schema.description) expect(stdout).toContain(schema.description);
    }
    expect(stdout).toMatch(
      /--max-parallel <integer>\s+integer 1–200, optional\n\s+.*\(default: 4 per Ready node, at least 10, at most 100\)\n/,
    );
    expect(stdout).toMatch(/nksr run calico-image-repair --cluster <name> --dry-run/);
  });

  test('the workflow type works as the name too, and -h before it', async () => {
    const a = await nksr('run', 'calicoImageRepair', '-h');
    const b = await nksr('run', '-h', 'calico-image-repair');
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).toContain('--pre-pull-batch-size');
  });

  test('nksr run --help lists every procedure with its description', async () => {
    const { code, stdout } = await nksr('run', '--help');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    for (const p of ALL_PROCEDURES)
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^  ${p.cliName} +`)));
    for (const p of ALL_PROCEDURES)
      expect(lines.find((l) => l.startsWith(`  ${p.cliName} `))).toContain(p.description);
    expect(stdout).toContain('--cluster <name>');
  });

  test('an unknown procedure is a clear error with exit code 2', async () => {
    for (const argv of [
      ['run', 'no-such-thing', '--help'],
      ['run', 'no-such-thing', '--cluster', 'x'],
    ]) {
      const { code, stderr } = await nksr(...argv);
      expect(code).toBe(2);
      expect(stderr).toMatch(/unknown procedure "no-such-thing"; known: cluster-preflight/);
    }
    const missing = await nksr('run', '--cluster', 'x');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/which procedure\?/);
  });

  test('nksr rbac --cluster prints the roles of the procedures that cluster enables; an unknown cluster exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nksr-rbac-cli-'));
    try {
      const file = join(dir, 'clusters.yaml');
      writeFileSync(
        file,
        'clusters:\n  kr1:\n    kubeconfig: kr1.kubeconfig\n    procedures: [calico-image-repair]\n',
      );
      const ok = await nksr('rbac', '--cluster', 'kr1', '--clusters-file', file);
      expect(ok.code).toBe(0);
      const names = new Set(
        parseAllDocuments(ok.stdout).map((d) => (d.toJS() as { metadata: { name: string } }).metadata.name),
      );
      expect([...names].sort()).toEqual(['nksr-calico-image-repair', 'nksr-remediator']);
      const unknown = await nksr('rbac', '--cluster', 'kr2', '--clusters-file', file);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/has no cluster "kr2" \(it has: kr1\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('the worker says at start-up which SSH procedures cannot run on a cluster without ssh settings', () => {
  const registry = registryFromEntries({
    withssh: {
      kubeconfig: '/k',
      nodeAddressType: 'InternalIP',
      ssh: {
        user: 'centos',
        privateKeyPath: '/key',
        knownHostsPath: '/kh',
        port: 22,
        connectTimeoutMs: 1000,
      },
    },
    apionly: { kubeconfig: '/k', nodeAddressType: 'InternalIP' },
  });
  const lines = describeServedProcedures(registry);
  expect(lines[0]).toBe(`procedures: ${ALL_PROCEDURES.map((p) => p.cliName).join(', ')}`);
  const ssh = ALL_PROCEDURES.filter((p) => p.usesSsh).map((p) => p.cliName);
  expect(ssh).toContain('node-inventory');
  expect(lines.slice(1)).toEqual([
    `cluster apionly has no ssh settings in the registry: ${ssh.join(', ')} cannot run there`,
  ]);
});
