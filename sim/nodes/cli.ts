/**
 * Command-line pieces of the SSH nodes for sim/cli.ts: drift options for `up`, and the node commands
 * (`fault node-ssh`, `fault node-reboot`, `fault ssh-status`). Wiring: `registerNodeCommands(fault, dirOption)`;
 * optionally `addNodeDriftOptions(upCommand)` and `driftFromOptions(o)` as StartSshNodesOptions.drift.
 */
import { Option, type Command } from 'commander';
import { getSshNodesStatus, rebootSshNode, setNodeFault, type NodeFault } from './index';

const list = (value: string, previous: string[] = []): string[] =>
  previous.concat(
    value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'none'),
  );

/** Adds the drift flags to `up`. Nodes are names or 1-based positions, comma-separated; "none" = no drift. */
export function addNodeDriftOptions(cmd: Command): Command {
  return cmd
    .option('--logrotate-missing <nodes>', 'nodes without /etc/logrotate.d/docker (default: node 2)', list)
    .option('--logrotate-different <nodes>', 'nodes with another logrotate config (default: node 4)', list)
    .option('--rpc-statd-stopped <nodes>', 'nodes whose rpc-statd is stopped at up', list)
    .option('--missing-image <node=image>', 'a default image absent from a node (repeatable)', list)
    .option(
      '--unpullable-image <glob>',
      'image references no node can pull, e.g. "k8s.gcr.io/*" (repeatable)',
      list,
    )
    .addOption(
      new Option('--reboot-down-ms <ms>', 'how long a rebooting node stays down (default 5000)').argParser(
        (v) => {
          if (!/^\d+$/.test(v)) throw new Error('--reboot-down-ms takes milliseconds');
          return Number(v);
        },
      ),
    );
}

/** The drift record for StartSshNodesOptions.drift from the options addNodeDriftOptions added. */
export function driftFromOptions(o: Record<string, unknown>): Record<string, unknown> {
  const drift: Record<string, unknown> = {};
  const map: [string, string][] = [
    ['logrotateMissing', 'logrotateMissing'],
    ['logrotateDifferent', 'logrotateDifferent'],
    ['rpcStatdStopped', 'rpcStatdStopped'],
    ['missingImage', 'missingImages'],
    ['unpullableImage', 'unpullableImages'],
    ['rebootDownMs', 'rebootDownMs'],
  ];
  for (const [flag, key] of map) if (o[flag] !== undefined) drift[key] = o[flag];
  return drift;
}

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
