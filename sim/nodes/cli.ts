/**
 * Command-line pieces of the SSH nodes for sim/cli.ts: drift options for `up`, and the node commands
 * (`node-fault`, `node-reboot`, `node-status`). Wiring: `addNodeDriftOptions(upCommand)`, then pass
 * `driftFromOptions(upCommand.opts())` as StartSshNodesOptions.drift; `registerNodeCommands(program, dirOf)`.
 */
import { Argument, Option, type Command } from 'commander';
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
    .option('--docker-nodes <nodes>', 'nodes running docker instead of containerd', list)
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
    ['dockerNodes', 'dockerRuntimeNodes'],
    ['rebootDownMs', 'rebootDownMs'],
  ];
  for (const [flag, key] of map) if (o[flag] !== undefined) drift[key] = o[flag];
  return drift;
}

const FAULTS: NodeFault[] = ['none', 'sshd-stopped', 'sshd-hung', 'host-key-replaced'];

/** `node-fault <node> <fault>`, `node-reboot <node>`, `node-status`; dirOf() gives the sim dir. */
export function registerNodeCommands(program: Command, dirOf: () => string): void {
  program
    .command('node-fault')
    .description(`put a fault on a node's sshd: ${FAULTS.join(' | ')} (none restores)`)
    .argument('<node>', 'Kubernetes node name')
    .addArgument(new Argument('<fault>', 'the fault').choices(FAULTS))
    .action(async (node: string, fault: NodeFault) => {
      const status = await setNodeFault({ dir: dirOf(), node, fault });
      console.log(JSON.stringify(status));
    });
  program
    .command('node-reboot')
    .description('power-cycle a node (as `sudo reboot` on it would)')
    .argument('<node>', 'Kubernetes node name')
    .action(async (node: string) => {
      await rebootSshNode({ dir: dirOf(), node });
      console.log(`${node}: reboot requested`);
    });
  program
    .command('node-status')
    .description("the SSH nodes' state, sshd PID and boot ID")
    .action(async () => {
      console.log(JSON.stringify(await getSshNodesStatus({ dir: dirOf() }), null, 2));
    });
}
