/**
 * The one SSH layer (ssh2): connections to worker nodes from the cluster registry, host keys
 * verified against the registry's known_hosts file, bounded command execution, and a per-activity
 * pool so one activity reuses one connection per node.
 *
 * The private key is read from disk at connect time and handed only to ssh2; it is never kept,
 * logged or put into an error.
 */
import { readFile, stat } from 'node:fs/promises';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorType } from '../../common/errors';
import type { SshSettings } from '../../common/registry-schema';
import { SshCommandTimeout, SshHostKeyRejected, SshSessionClosed, sshFailure } from '../errors';
import { KnownHosts, hostKeyAlgorithmsFor } from './known-hosts';

export interface SshTarget {
  cluster: string;
  node: string;
  /** The node's address as the Kubernetes API reports it (never taken from activity input). */
  host: string;
  settings: SshSettings;
}

export interface ExecOptions {
  /** Bytes written to the command's stdin, then EOF. */
  stdin?: Buffer | string;
  /** Whole-command deadline; the channel and connection are dropped when it passes. */
  timeoutMs?: number;
  /** Per stream; the rest is read and discarded. */
  maxOutputBytes?: number;
  /** What is being done, for error messages (e.g. `hash /etc/logrotate.d/docker`). */
  operation?: string;
  /**
   * The activity's cancellation: the remote command is sent SIGTERM, the channel and connection
   * dropped, and the call rejects with the signal's reason (a CancelledFailure).
   */
  signal?: AbortSignal;
}

export interface ExecResult {
  /** null when the command ended by a signal or the server sent no status. */
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;
export const DEFAULT_COMMAND_TIMEOUT_MS = 5 * 60_000;

/** The abort's reason as the error to throw (the activity's CancelledFailure when it has one). */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new CancelledFailure('command aborted: activity cancelled');
}

/** Carries an abort's reason past the classification of SSH errors. */
class Cancelled extends Error {
  constructor(readonly reason: Error) {
    super(reason.message);
  }
}

/** Keeps the first `max` bytes of a stream and counts the rest. */
class BoundedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    const room = this.max - this.size;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

const knownHostsCache = new Map<string, { mtimeMs: number; hosts: KnownHosts }>();

async function loadKnownHosts(path: string): Promise<KnownHosts> {
  const { mtimeMs } = await stat(path);
  const cached = knownHostsCache.get(path);
  if (cached && cached.mtimeMs === mtimeMs) return cached.hosts;
  const hosts = KnownHosts.parse(await readFile(path, 'utf8'));
  knownHostsCache.set(path, { mtimeMs, hosts });
  return hosts;
}

function registryProblem(target: SshTarget, what: string, err: unknown): ApplicationFailure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return ApplicationFailure.create({
    type: ErrorType.RegistryInvalid,
    nonRetryable: true,
    message: `cluster "${target.cluster}": SSH ${what} cannot be read${code ? ` (${code})` : ''}`,
    details: [{ cluster: target.cluster }],
  });
}

/** One authenticated SSH connection to one node. */
/**
 * Sends a signal request on a session channel. ssh2's `channel.signal` drops the request once the
 * channel's stdin has been ended (it checks that the channel is still writable), and every exec ends
 * stdin at once, so it would never reach the command; the protocol call it makes is used directly
 * while the channel is still open on our side.
 */
function signalCommand(channel: ClientChannel, name: string): void {
  const ch = channel as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, name: string) => void } };
  };
  const protocol = ch._client?._protocol;
  const id = ch.outgoing?.id;
  if (protocol?.signal && typeof id === 'number' && ch.outgoing?.state !== 'closed')
    protocol.signal(id, name);
  else channel.signal(name);
}

export class SshSession {
  private closed = false;

  private constructor(
    readonly target: SshTarget,
    private readonly client: Client,
  ) {
    client.on('close', () => (this.closed = true));
    // After the handshake ssh2 reports socket trouble as 'error'; exec() sees it as a closed channel.
    client.on('error', () => (this.closed = true));
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  private ctx(operation: string) {
    return {
      cluster: this.target.cluster,
      node: this.target.node,
      address: `${this.target.host}:${this.target.settings.port}`,
      operation,
    };
  }

  /** Connects and authenticates; every failure comes out classified (see sshFailure). */
  static async connect(target: SshTarget): Promise<SshSession> {
    const { settings, host } = target;
    const ctx = {
      cluster: target.cluster,
      node: target.node,
      address: `${host}:${settings.port}`,
      operation: 'connect',
    };
    let knownHosts: KnownHosts;
    try {
      knownHosts = await loadKnownHosts(settings.knownHostsPath);
    } catch (err) {
      throw registryProblem(target, `known_hosts file ${settings.knownHostsPath}`, err);
    }
    const keyTypes = knownHosts.keyTypes(host, settings.port);
    if (keyTypes.length === 0) {
      // Nothing on record: refuse before dialling, as StrictHostKeyChecking=yes would.
      throw sshFailure(new SshHostKeyRejected(host, settings.port, { reason: 'unknown', expected: [] }), ctx);
    }
    let privateKey: Buffer;
    try {
      privateKey = await readFile(settings.privateKeyPath);
    } catch (err) {
      throw registryProblem(target, `private key ${settings.privateKeyPath}`, err);
    }

    const client = new Client();
    // ssh2 can emit further errors after the first (e.g. the socket closing after a refusal); they
    // must not crash the worker. The first one is handled below; later ones add nothing.
    client.on('error', () => undefined);
    let rejection: SshHostKeyRejected | undefined;
    const config: ConnectConfig = {
      host,
      port: settings.port,
      username: settings.user,
      privateKey,
      readyTimeout: settings.connectTimeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      // Offer only key types on record, so the server presents a key we can check.
      algorithms: { serverHostKey: keyTypes.flatMap(hostKeyAlgorithmsFor) as never },
      hostVerifier: (key: Buffer) => {
        const verdict = knownHosts.verify(host, settings.port, key);
        if (verdict.ok) return true;
        rejection = new SshHostKeyRejected(host, settings.port, verdict);
        return false;
      },
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const settle = (err?: Error) => {
          client
            .removeListener('ready', onReady)
            .removeListener('error', onError)
            .removeListener('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onError = (err: Error) => settle(err);
        const onReady = () => settle();
        // A node going down mid-handshake can close the socket without an error event.
        const onClose = () => settle(new SshSessionClosed());
        client.once('ready', onReady).once('error', onError).once('close', onClose);
        try {
          client.connect(config);
        } catch (err) {
          // Synchronous throws are about the key (unparseable, encrypted): a registry problem.
          settle(registryProblem(target, `private key ${settings.privateKeyPath}`, err));
        }
      });
    } catch (err) {
      client.end();
      throw sshFailure(rejection ?? err, ctx);
    } finally {
      privateKey.fill(0);
    }
    return new SshSession(target, client);
  }

  /** Runs one command line (already quoted by src/common/shell) and collects bounded output. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const operation = opts.operation ?? 'run command';
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    if (this.closed) throw sshFailure(new SshSessionClosed(), this.ctx(operation));
    const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const started = Date.now();
    const stdout = new BoundedBuffer(max);
    const stderr = new BoundedBuffer(max);
    try {
      return await new Promise<ExecResult>((resolve, reject) => {
        let channel: ClientChannel | undefined;
        let exitCode: number | null = null;
        let signal: string | undefined;
        let settled = false;
        const onClientClose = () => finish(new SshSessionClosed());
        const onAbort = () => {
          stopRemote();
          finish(new Cancelled(abortReason(opts.signal!)));
        };
        const finish = (err?: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.client.removeListener('close', onClientClose);
          opts.signal?.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else {
            resolve({
              exitCode,
              ...(signal ? { signal } : {}),
              stdout: stdout.text(),
              stderr: stderr.text(),
              stdoutTruncated: stdout.truncated,
              stderrTruncated: stderr.truncated,
              durationMs: Date.now() - started,
            });
          }
        };
        const stopRemote = () => {
          // OpenSSH delivers the signal to the command; TERM rather than KILL because sudo relays
          // TERM to what it runs (a script stops before its next step) and cannot relay KILL.
          try {
            if (channel) signalCommand(channel, 'TERM');
          } catch {
            // the channel is already gone
          }
          channel?.close();
          this.close();
        };
        const timer = setTimeout(() => {
          stopRemote();
          finish(new SshCommandTimeout(timeoutMs));
        }, timeoutMs);
        this.client.once('close', onClientClose);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        this.client.exec(command, (err, ch) => {
          if (err) return finish(err);
          channel = ch;
          ch.on('data', (d: Buffer) => stdout.push(d));
          ch.stderr.on('data', (d: Buffer) => stderr.push(d));
          ch.on('exit', (code: number | null, sig?: string) => {
            exitCode = typeof code === 'number' ? code : null;
            if (sig) signal = sig;
          });
          ch.on('close', () => finish());
          if (opts.stdin !== undefined) ch.end(opts.stdin);
          else ch.end();
        });
      });
    } catch (err) {
      if (err instanceof Cancelled) throw err.reason;
      throw sshFailure(err, this.ctx(operation));
    }
  }

  close(): void {
    if (!this.closed) {
      this.closed = true;
      this.client.end();
    }
  }
}

/**
 * Connections of one activity execution, keyed by cluster/node. Close it when the activity ends
 * (`withSshPool` does) so no connection outlives its activity.
 */
export class SshPool {
  private readonly sessions = new Map<string, Promise<SshSession>>();

  async session(target: SshTarget): Promise<SshSession> {
    const key = `${target.cluster}/${target.node}`;
    const existing = this.sessions.get(key);
    if (existing) {
      const s = await existing.catch(() => undefined);
      if (s?.isOpen && s.target.host === target.host) return s;
      s?.close();
    }
    const created = SshSession.connect(target);
    this.sessions.set(key, created);
    created.catch(() => this.sessions.delete(key));
    return created;
  }

  /** Forgets (and closes) a node's connection, e.g. after it rebooted. */
  drop(cluster: string, node: string): void {
    const key = `${cluster}/${node}`;
    const existing = this.sessions.get(key);
    this.sessions.delete(key);
    void existing?.then((s) => s.close()).catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
  }
}

export async function withSshPool<T>(fn: (pool: SshPool) => Promise<T>): Promise<T> {
  const pool = new SshPool();
  try {
    return await fn(pool);
  } finally {
    await pool.closeAll();
  }
}
