/**
 * `npm run sim -- <command>`: start, stop and inspect the NKS cluster simulator, and inject faults.
 * Errors print one line and exit 1; the programmatic API is sim/index.ts.
 */
import { Command, InvalidArgumentError } from 'commander';
import {
  COMPONENTS,
  type Component,
  componentArg,
  restartComponent,
  setKubeletStopped,
  startComponent,
  stopComponent,
} from './components';
import { CONTAINER_RUNTIMES, type ContainerRuntime, defaultIpPrefix, defaultSimDir } from './config';
import { SimError, errorMessage, loadSim, simDown, simStatus, simUp, type SimStatus } from './index';
import { clearNfsLockFault, nfsLockFault } from './nfs';
import {
  GRUB_FAULTS,
  type GrubFault,
  KMEM_DEMO_NAMESPACE,
  clearKmemOomFault,
  grubFault,
  kmemOomFault,
} from './kmem';
import { registerNodeCommands } from './nodes/cli';

const say = (line: string) => process.stderr.write(`${line}\n`);

function intArg(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return Number(value);
  };
}

function runtimeArg(value: string): ContainerRuntime {
  if (!(value in CONTAINER_RUNTIMES)) throw new InvalidArgumentError('must be containerd or docker');
  return value as ContainerRuntime;
}

function nodeRuntimeArg(value: string, previous: Record<number, ContainerRuntime> = {}) {
  const m = /^(\d+)=(\w+)$/.exec(value);
  if (!m || !(m[2]! in CONTAINER_RUNTIMES)) {
    throw new InvalidArgumentError('expected <node index>=<containerd|docker>, e.g. 2=docker');
  }
  return { ...previous, [Number(m[1])]: m[2] as ContainerRuntime };
}

function jsonObjectArg(value: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(value);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new InvalidArgumentError('must be a JSON object');
}

function printStatus(s: SimStatus): void {
  if (s.state === 'absent') {
    console.log(`no simulator in ${s.dir}`);
    return;
  }
  console.log(
    `simulator in ${s.dir}: ${s.state}${s.upSeconds !== undefined ? ` (up took ${s.upSeconds}s)` : ''}`,
  );
  for (const p of s.processes)
    console.log(`  ${p.name.padEnd(24)} pid ${String(p.pid).padEnd(8)} ${p.alive ? 'running' : 'stopped'}`);
  if (s.apiserver)
    console.log(`  api server ${s.apiserver.url}: ${s.apiserver.ready ? 'ready' : 'NOT ready'}`);
  if (s.nodes) {
    const extra = s.nodes.notReady.length ? ` (not Ready: ${s.nodes.notReady.join(', ')})` : '';
    console.log(`  nodes: ${s.nodes.ready}/${s.nodes.total} Ready${extra}`);
  }
  if (s.ssh && s.state !== 'stopped')
    console.log(`  SSH nodes (user ${s.ssh.user}): ${s.ssh.nodes.join(', ')}`);
  if (s.imageFaults?.length) {
    for (const f of s.imageFaults)
      console.log(`  image fault: /${f.pattern}/${f.node ? ` on ${f.node}` : ''}`);
  }
  if (s.state !== 'stopped')
    console.log(`  kubeconfig: ${s.kubeconfigPath}\n  clusters:   ${s.clustersPath}`);
}

const program = new Command('sim')
  .description('NKS cluster simulator: a real Kubernetes control plane with kwok-played worker nodes')
  .showHelpAfterError();

const dirOption = ['--dir <dir>', 'state dir (env NKSR_SIM_DIR)', defaultSimDir()] as const;

program
  .command('up')
  .description('start the control plane, N worker nodes and the NKS fixtures; wait until usable')
  .requiredOption(
    '--nodes <n>',
    'number of worker nodes (beyond 254 the addresses continue in the next /24s)',
    intArg('--nodes'),
  )
  .option(
    '--ssh-nodes <k>',
    'how many of the nodes get an SSH server (default: all, at most 254)',
    intArg('--ssh-nodes'),
  )
  .option(...dirOption)
  .option(
    '--ip-prefix <prefix>',
    'first three octets of the nodes\u2019 loopback IPs (env NKSR_SIM_IP_PREFIX)',
    defaultIpPrefix(),
  )
  .option(
    '--runtime <runtime>',
    'container runtime of the nodes: containerd or docker',
    runtimeArg,
    'containerd',
  )
  .option('--node-runtime <i=runtime>', 'runtime of one node, by index (repeatable)', nodeRuntimeArg)
  .option('--drift <json>', 'drift settings for the SSH nodes (see sim/nodes)', jsonObjectArg)
  .option('--no-fixtures', 'do not apply the NKS kube-system fixtures')
  .option(
    '--ssh-delay-ms <ms>',
    'latency each way on every SSH connection to a node (a delay proxy on :22, sshd behind it)',
    intArg('--ssh-delay-ms'),
  )
  .action(async (o) => {
    const handle = await simUp({
      dir: o.dir,
      ipPrefix: o.ipPrefix,
      nodes: o.nodes,
      sshNodes: o.sshNodes,
      runtime: o.runtime,
      nodeRuntimes: o.nodeRuntime,
      drift: o.drift,
      fixtures: o.fixtures,
      sshDelayMs: o.sshDelayMs,
      log: say,
    });
    if (handle.alreadyRunning) {
      say(`already running in ${handle.dir} (npm run sim -- status)`);
      return;
    }
    const st = handle.state;
    const phases = Object.entries(handle.timings)
      .filter(([k]) => k !== 'total')
      .map(([k, v]) => `${k} ${v.toFixed(1)}s`)
      .join(', ');
    say(`sim up: ${st.nodes.length} nodes Ready in ${st.upSeconds}s (${phases})`);
    say(`  kubeconfig: ${st.kubeconfigPath}  (kubectl --kubeconfig ${st.kubeconfigPath} get nodes)`);
    say(`  clusters:   ${st.clustersPath}`);
    if (st.ssh) say(`  SSH:        ${st.ssh.nodes.length} node(s), user ${st.ssh.user}`);
  });

program
  .command('down')
  .description('stop everything the simulator in --dir started')
  .option(...dirOption)
  .action(async (o) => {
    await simDown({ dir: o.dir, log: say });
  });

program
  .command('status')
  .description('what runs: processes, API server health, nodes')
  .option(...dirOption)
  .option('--json', 'machine-readable output')
  .action(async (o) => {
    const s = await simStatus({ dir: o.dir });
    if (o.json) console.log(JSON.stringify(s, null, 2));
    else printStatus(s);
  });

program
  .command('fixtures')
  .description('re-apply the NKS kube-system fixtures (restores the broken calico images)')
  .option(
    '--no-reset-pods',
    'keep the calico pods (by default they are recreated from the restored templates)',
  )
  .option(...dirOption)
  .action(async (o) => {
    await loadSim(o.dir).applyFixtures({ resetPods: o.resetPods });
    say('fixtures applied');
  });

const fault = program.command('fault').description('inject or clear faults');

fault
  .command('image-fail')
  .description('pods (not yet running) whose image matches get ErrImagePull, then ImagePullBackOff')
  .requiredOption('--pattern <regex>', 'RE2 regular expression searched in the image reference')
  .option('--node <name>', 'only on this node')
  .option('--message <text>', 'ErrImagePull message; {image} is replaced by the image')
  .option('--anonymous-only', 'only pods without imagePullSecrets fail (Docker Hub anonymous rate limit)')
  .option(...dirOption)
  .action(async (o) => {
    await loadSim(o.dir).failImage({
      pattern: o.pattern,
      node: o.node,
      message: o.message,
      ...(o.anonymousOnly ? { anonymousOnly: true } : {}),
    });
    say(
      `images matching /${o.pattern}/${o.node ? ` on ${o.node}` : ''} now fail to pull${o.anonymousOnly ? ' without a pull secret' : ''}`,
    );
  });

fault
  .command('clear-images')
  .description('remove the image faults added with image-fail (the NKS calico ones stay)')
  .option(...dirOption)
  .action(async (o) => {
    await loadSim(o.dir).clearImageFaults();
    say('image faults cleared');
  });

fault
  .command('node-ready')
  .description('make a node report NotReady (false) or Ready again (true)')
  .requiredOption('--node <name>', 'node name')
  .requiredOption('--ready <bool>', 'true or false', (v: string) => {
    if (v !== 'true' && v !== 'false') throw new InvalidArgumentError('must be true or false');
    return v === 'true';
  })
  .option(...dirOption)
  .action(async (o) => {
    await loadSim(o.dir).setNodeReady({ node: o.node, ready: o.ready });
    say(`${o.node}: ${o.ready ? 'Ready' : 'NotReady'} requested`);
  });

fault
  .command('mount-timeout')
  .description('FailedMount events "timed out waiting for the condition" on the pods a selector matches')
  .requiredOption('--namespace <ns>', 'namespace of the pods')
  .requiredOption('--selector <labels>', 'label selector of the pods, e.g. app=photo-store')
  .option('--volume <name>', 'volume named in the message', 'data')
  .option(...dirOption)
  .action(async (o) => {
    const pods = await loadSim(o.dir).mountTimeout({
      namespace: o.namespace,
      selector: o.selector,
      volume: o.volume,
    });
    say(`mount timeout reported on ${pods.join(', ')}`);
  });

fault
  .command('nfs-lock')
  .description('stop rpc-statd on a node and put NFS pods there that stay Pending with FailedMount events')
  .requiredOption('--node <name>', 'node name')
  .option(...dirOption)
  .action(async (o) => {
    const f = await nfsLockFault({ dir: o.dir, node: o.node });
    say(
      `${o.node}: rpc-statd stopped; stuck pods nfs-demo/${f.controlledPod} (ReplicaSet) and nfs-demo/${f.barePod} (bare)`,
    );
  });

fault
  .command('clear-nfs-lock')
  .description('remove the nfs-demo namespace; with --node, start rpc-statd there again')
  .option('--node <name>', 'node name')
  .option(...dirOption)
  .action(async (o) => {
    await clearNfsLockFault({ dir: o.dir, node: o.node });
    say('nfs lock fault cleared');
  });

fault
  .command('kmem-oom')
  .description('a pod on the node that failed with FailedCreatePodContainer "cannot allocate memory"')
  .requiredOption('--node <name>', 'node name')
  .option(...dirOption)
  .action(async (o) => {
    const f = await kmemOomFault({ dir: o.dir, node: o.node });
    say(`${o.node}: pod ${KMEM_DEMO_NAMESPACE}/${f.pod} (ReplicaSet) failed with "cannot allocate memory"`);
  });

fault
  .command('clear-kmem-oom')
  .description('remove the kmem-demo namespace')
  .option(...dirOption)
  .action(async (o) => {
    await clearKmemOomFault({ dir: o.dir });
    say('kmem-oom fault cleared');
  });

fault
  .command('grub')
  .description(`break the node's boot configuration, or put it back with none: ${GRUB_FAULTS.join(', ')}`)
  .requiredOption('--node <name>', 'node name')
  .argument('<fault>', GRUB_FAULTS.join(', '))
  .option(...dirOption)
  .action(async (f: GrubFault, o) => {
    await grubFault({ dir: o.dir, node: o.node, fault: f });
    say(`${o.node}: grub fault ${f}`);
  });

for (const [verb, what] of [
  ['restart', 'stop a control-plane component (SIGTERM, SIGKILL after 10 s) and start it again'],
  ['stop', 'stop a control-plane component (it stays down until `fault start`)'],
  ['start', 'start a stopped control-plane component again, as `up` started it'],
] as const) {
  fault
    .command(verb)
    .description(`${what}; component: ${Object.keys(COMPONENTS).join(', ')}`)
    .argument('<component>', 'etcd, kube-apiserver, controller-manager, scheduler or kwok', componentArg)
    .option('--down-ms <ms>', 'restart: how long it stays down in between', intArg('--down-ms'), 0)
    .option('--kill', 'stop/restart: SIGKILL at once (a crash) instead of SIGTERM first')
    .option(...dirOption)
    .action(async (component: Component, o: { dir: string; downMs: number; kill?: boolean }) => {
      const t0 = Date.now();
      const graceMs = o.kill ? 0 : undefined;
      if (verb === 'restart') await restartComponent(o.dir, component, { downMs: o.downMs, graceMs });
      else if (verb === 'stop') {
        if (!(await stopComponent(o.dir, component, graceMs))) say(`${component} was not running`);
      } else if (!(await startComponent(o.dir, component))) say(`${component} was already running`);
      say(`${component}: ${verb} done in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    });
}

fault
  .command('node-down')
  .description(
    "stop a node's kubelet (false brings it back): no lease, no status, its pods not played; the node lifecycle controller marks the node Unknown and its pods not Ready",
  )
  .requiredOption('--node <name>', 'node name')
  .option('--up', 'start the kubelet again')
  .option(...dirOption)
  .action(async (o: { node: string; up?: boolean; dir: string }) => {
    await setKubeletStopped(o.dir, o.node, !o.up);
    say(`${o.node}: kubelet ${o.up ? 'started' : 'stopped'}`);
  });

registerNodeCommands(fault, dirOption);

program.parseAsync(process.argv).catch((e: unknown) => {
  // One line, whatever the cause (log tails and kubectl stderr come with newlines).
  const message = (e instanceof SimError ? e.message : errorMessage(e)).replace(/\s*\n\s*/g, ' | ');
  say(`sim: ${message.length > 800 ? `${message.slice(0, 800)}...` : message}`);
  process.exit(1);
});
