/**
 * `nksr rbac --cluster <name>`: the RBAC one cluster needs, from the worker's clusters.yaml: the
 * ServiceAccount and the role of each procedure the entry's `procedures:` enable (and of each
 * feature its policy turns on), ready for `kubectl apply -f -` on that cluster.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { clusterRbacYaml } from '../rbac-manifests';
import { loadClusterRegistry, RegistryError } from '../../worker/registry';
import { CliError } from './common';

export function rbacCommand(): Command {
  return new Command('rbac')
    .description(
      'print the RBAC a cluster needs (the roles of the procedures its clusters.yaml entry enables), for kubectl apply -f -',
    )
    .requiredOption('--cluster <name>', 'the cluster, as clusters.yaml names it')
    .option(
      '--clusters-file <file>',
      "the worker's clusters.yaml (default NKSR_CLUSTERS_FILE or ./clusters.yaml)",
    )
    .action((opts: { cluster: string; clustersFile?: string }) => {
      const file = resolve(opts.clustersFile ?? (process.env.NKSR_CLUSTERS_FILE || 'clusters.yaml'));
      let registry;
      try {
        registry = loadClusterRegistry(file);
      } catch (err) {
        if (err instanceof RegistryError) throw new CliError(err.message, 2);
        throw err;
      }
      if (!registry.names().includes(opts.cluster))
        throw new CliError(
          `${file} has no cluster ${JSON.stringify(opts.cluster)} (it has: ${registry.names().join(', ')})`,
          2,
        );
      process.stdout.write(clusterRbacYaml(opts.cluster, registry.get(opts.cluster)));
    });
}
