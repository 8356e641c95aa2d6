/**
 * Command-line pieces of the SSH nodes for sim/cli.ts: the node commands (`fault node-ssh`,
 * `fault node-reboot`, `fault ssh-status`), wired with `registerNodeCommands(fault, dirOption)`.
 */
import { Option, type Command } from 'commander';
import { getSshNodesStatus, rebootSshNode, setNodeFault, type NodeFault } from './index';

const FAULTS: NodeFault[] = ['none', 'sshd-stopped', 'sshd-hung', 'host-key-replaced'];

/**
 * Adds to sim/cli.ts's `fault` group: `node-ssh --node N --fault F`, `node-reboot --node N`, and
 * `ssh-status`; each takes the CLI's --dir option.
 */
export function registerNodeCommands(
  fault: Command,
  dirOption: readonly [flags: string, description: string, defaultValue: string],
): void {
  fault
    .command('node-ssh')
    .description(`put a fault on a node's sshd (none restores it)`)
    .requiredOption('--node <name>', 'node name')
    .addOption(new Option('--fault <fault>', 'the fault').choices(FAULTS).makeOptionMandatory())
    .option(...dirOption)
    .action(async (o: { node: string; fault: NodeFault; dir: string }) => {
      const status = await setNodeFault({ dir: o.dir, node: o.node, fault: o.fault });
      process.stderr.write(`${o.node}: sshd ${status.state}\n`);
    });
  fault
    .command('node-reboot')
    .description('power-cycle a node from outside (as `sudo reboot` on it would)')
    .requiredOption('--node <name>', 'node name')
    .option(...dirOption)
    .action(async (o: { node: string; dir: string }) => {
      await rebootSshNode({ dir: o.dir, node: o.node });
      process.stderr.write(`${o.node}: reboot requested\n`);
    });
  fault
    .command('ssh-status')
    .description("the SSH nodes' state, sshd PID, boot ID and boot count")
    .option(...dirOption)
    .action(async (o: { dir: string }) => {
      console.log(JSON.stringify(await getSshNodesStatus({ dir: o.dir }), null, 2));
    });
}
