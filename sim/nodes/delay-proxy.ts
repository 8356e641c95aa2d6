/**
 * A TCP relay that adds a fixed latency, for networks this host cannot shape (no sch_netem): each
 * chunk read on one side is written to the other `delayMs` later, in both directions, so a round
 * trip through it costs 2 × delayMs on top of loopback. Order is kept: timers of one duration fire in
 * the order they were set. The simulator puts one on each node's address:22 in front of its sshd
 * (moved to SSH_BACKEND_PORT), so every SSH client, whatever its program, sees the same latency and
 * the same host key.
 */
import net from 'node:net';

export interface DelayProxy {
  close(): Promise<void>;
}

/** Forwards `from` to `to`, each chunk and the end `delayMs` late; a reset is passed on at once. */
function relay(from: net.Socket, to: net.Socket, delayMs: number): void {
  from.on('data', (chunk) =>
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, delayMs),
  );
  from.on('end', () =>
    setTimeout(() => {
      if (!to.destroyed) to.end();
    }, delayMs),
  );
}

export async function startDelayProxy(opts: {
  host: string;
  port: number;
  targetHost: string;
  targetPort: number;
  delayMs: number;
}): Promise<DelayProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const upstream = net.connect({ host: opts.targetHost, port: opts.targetPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('close', () => sockets.delete(s));
    }
    relay(client, upstream, opts.delayMs);
    relay(upstream, client, opts.delayMs);
    // Nothing listening behind (sshd stopped) or a reset: the client sees its connection dropped.
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    // One side gone: the other is ended once what is in flight has been written (destroying it would
    // drop those bytes, e.g. the exit status of the last SSH channel), and dropped if it lingers.
    const closeLater = (other: net.Socket) => () =>
      setTimeout(() => {
        other.end();
        setTimeout(() => other.destroy(), 5_000).unref();
      }, opts.delayMs);
    client.on('close', closeLater(upstream));
    upstream.on('close', closeLater(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host, port: opts.port, backlog: 511 }, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
