/**
 * The simulator's SSH delay proxy (sim/nodes/delay-proxy.ts) on real loopback sockets: bytes arrive
 * whole and in order in both directions, each way at least the delay late, and a half-close passes.
 */
import net from 'node:net';
import { startDelayProxy } from '../../sim/nodes/delay-proxy';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

test('relays in order both ways, each direction at least delayMs late; end is passed on', async () => {
  // Echo server that answers each chunk with the same bytes and ends when the client ends.
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('end', () => s.end());
  });
  const echoPort = await listen(echo);
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  const DELAY = 150;
  const proxy = await startDelayProxy({
    host: '127.0.0.1',
    port,
    targetHost: '127.0.0.1',
    targetPort: echoPort,
    delayMs: DELAY,
  });
  try {
    const client = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await new Promise<void>((r) => client.once('connect', () => r()));
    const chunks = Array.from({ length: 50 }, (_, i) => `chunk-${String(i).padStart(3, '0')};`);
    let received = '';
    const ended = new Promise<void>((r) => client.on('end', () => r()));
    client.on('data', (d) => (received += d.toString()));
    const t0 = Date.now();
    const first = new Promise<number>((r) => client.once('data', () => r(Date.now() - t0)));
    for (const c of chunks) client.write(c);
    client.end();
    const roundTrip = await first;
    await ended;
    expect(received).toBe(chunks.join(''));
    // Out and back: two delays at least (a lower bound only; a loaded machine is slower, never faster).
    expect(roundTrip).toBeGreaterThanOrEqual(2 * DELAY - 5);
    client.destroy();
  } finally {
    await proxy.close();
    await new Promise<void>((r) => echo.close(() => r()));
  }
});

test('nothing listening behind it: the client connection is dropped', async () => {
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  const proxy = await startDelayProxy({
    host: '127.0.0.1',
    port,
    targetHost: '127.0.0.1',
    targetPort: 1, // nothing listens on port 1
    delayMs: 10,
  });
  try {
    const client = net.connect({ host: '127.0.0.1', port });
    const closed = await new Promise<boolean>((r) => {
      client.on('error', () => undefined);
      client.on('close', () => r(true));
    });
    expect(closed).toBe(true);
  } finally {
    await proxy.close();
  }
});
