import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { sleep } from '../process';
import { simPaths } from './layout';

/**
 * Faults a test can put on a node's SSH server:
 * - sshd-stopped: nothing listens (connection refused); open sessions live on.
 * - sshd-hung: TCP connects, the SSH banner never comes (connect/handshake timeout).
 * - host-key-replaced: a different sshd with a host key that is not in known_hosts (a man in the middle).
 * - none: back to the node's own sshd.
 */
export type NodeFault = 'none' | 'sshd-stopped' | 'sshd-hung' | 'host-key-replaced';

export interface NodeStatus {
  name: string;
  ip: string;
  state: 'booting' | 'up' | 'down' | 'failed' | Exclude<NodeFault, 'none'>;
  sshdPid?: number;
  bootId: string;
  /** 1 at `up`, +1 per reboot. */
  boots: number;
  error?: string;
}

export interface SupervisorStatus {
  pid: number;
  nodes: NodeStatus[];
}

export interface SupervisorConfig {
  dir: string;
  kubeconfigPath: string;
  kubectlPath: string;
  rebootDownMs: number;
  nodes: { name: string; ip: string }[];
  /** > 0: sshd listens on SSH_BACKEND_PORT and a proxy adding this many ms each way on :22. */
  sshDelayMs?: number;
}

/** One request to the supervisor of the sim dir `dir`, over its Unix socket. */
export function supervisorRequest<T>(
  dir: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: simPaths(dir).supervisorSocket,
        method,
        path,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(data || 'null') as T });
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`supervisor did not answer ${method} ${path}`)));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function escapeMountPath(p: string): string {
  return p.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * A path as mountinfo's "root" field shows a bind mount of it: relative to the root of the filesystem
 * holding it (the longest mount point above it, per this process's mountinfo).
 */
function pathInItsFilesystem(p: string): string {
  let best = { point: '/', root: '/' };
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const root = f[3];
    const point = f[4];
    if (root === undefined || point === undefined) continue;
    const inside = point === '/' || p === point || p.startsWith(`${point}/`);
    if (inside && point.length >= best.point.length) best = { point, root };
  }
  const rest = best.point === '/' ? p : p.slice(best.point.length);
  return path.posix.join(best.root, rest);
}

/**
 * PIDs of live processes in any of the given mount namespaces ("mnt:[inode]"). With `owner` (a node's
 * or a sim's nodes dir, absolute), only processes whose mounts come from under it: the kernel reuses a
 * dead namespace's inode, so a recorded namespace that died (an sshd restarted by a fault) can later
 * name another simulator's live node, which must not be killed.
 */
export function listNamespaceProcesses(namespaces: Set<string>, owner?: string): Set<number> {
  const pids = new Set<number>();
  if (namespaces.size === 0) return pids;
  const mark = owner && ` ${escapeMountPath(pathInItsFilesystem(path.resolve(owner)))}/`;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!namespaces.has(fs.readlinkSync(`/proc/${entry}/ns/mnt`))) continue;
      if (mark && !fs.readFileSync(`/proc/${entry}/mountinfo`, 'utf8').includes(mark)) continue;
      pids.add(Number(entry));
    } catch {
      // exited meanwhile, or a zombie (which holds no namespace)
    }
  }
  return pids;
}

/**
 * SIGKILLs every process in the given mount namespaces (and those `alsoKill` names) until none is
 * left, for at most ~5 s: a process can fork between the listing and the kill. `owner`: see
 * listNamespaceProcesses.
 * Returns the namespaces' processes still alive after that (empty when all went).
 */
export async function killNamespaceProcesses(
  namespaces: Set<string>,
  alsoKill: () => Iterable<number> = () => [],
  owner?: string,
): Promise<Set<number>> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = listNamespaceProcesses(namespaces, owner);
    for (const pid of alsoKill()) pids.add(pid);
    if (pids.size === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await sleep(100);
  }
  return listNamespaceProcesses(namespaces, owner);
}

/** Resolves once something on ip:port speaks SSH (sends its banner); rejects after timeoutMs. */
export async function waitForSshBanner(
  ip: string,
  timeoutMs: number,
  gaveUp: () => boolean = () => false,
  port = 22,
) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (gaveUp()) throw new Error(`sshd on ${ip} exited before listening (see its sshd.log)`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host: ip, port });
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1_000, () => done(false));
      sock.once('data', (d) => done(d.toString('latin1').startsWith('SSH-')));
      sock.once('error', (e) => {
        last = e.message;
        done(false);
      });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`no SSH banner on ${ip}:${port} after ${timeoutMs} ms (${last})`);
}
