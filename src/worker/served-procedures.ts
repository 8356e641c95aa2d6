/**
 * What this worker serves, from the procedure registry and the cluster registry: printed at start-up
 * so an operator sees at once which procedures cannot run on which cluster (SSH procedures on a
 * cluster without `ssh:` settings fail there with a clear error; this says so before anyone tries).
 */
import { ALL_PROCEDURES } from '../common/procedures';
import type { ClusterRegistry } from '../activities/deps';

export function describeServedProcedures(registry: ClusterRegistry): string[] {
  const lines = [`procedures: ${ALL_PROCEDURES.map((p) => p.cliName).join(', ')}`];
  const ssh = ALL_PROCEDURES.filter((p) => p.usesSsh).map((p) => p.cliName);
  for (const name of registry.names()) {
    if (ssh.length && !registry.get(name).ssh) {
      lines.push(`cluster ${name} has no ssh settings in the registry: ${ssh.join(', ')} cannot run there`);
    }
  }
  return lines;
}
