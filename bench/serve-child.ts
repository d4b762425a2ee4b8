/**
 * A server under test, in a process of its own so that the load generator does not share its
 * event loop (on a 2-core machine the two processes get roughly a core each).
 *
 *   node --import tsx bench/serve-child.ts bare    a bare Hono hello-world on @hono/node-server
 *   node --import tsx bench/serve-child.ts livia   our server (startServer), configured by env
 *
 * With an IPC channel (child_process.fork) it reports `{type: 'ready', url}` and stops on a
 * `'stop'` message or when the parent goes away. Without one it listens on PORT and stops on
 * SIGTERM, so it can serve as the cold-start baseline too.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const mode = process.argv[2];

async function startBare(port: number): Promise<{ url: string; stop(): Promise<void> }> {
  const app = new Hono();
  app.get('/', (c) => c.text('Hello Hono!'));
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () => resolve(s as Server)) as Server;
    s.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startLivia(): Promise<{ url: string; stop(): Promise<void> }> {
  const { startServer } = await import('../src/main.ts');
  const server = await startServer({ ...process.env, PORT: process.env.PORT ?? '0', HOST: '127.0.0.1' });
  return { url: server.url, stop: () => server.stop() };
}

const port = Number(process.env.PORT ?? 0);
const running = mode === 'bare' ? await startBare(port) : mode === 'livia' ? await startLivia() : undefined;
if (!running) {
  process.stderr.write('usage: serve-child.ts bare|livia\n');
  process.exit(2);
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await running.stop().catch((err: Error) => process.stderr.write(`stop failed: ${err.message}\n`));
  process.exit(0);
};
if (process.send) {
  process.send({ type: 'ready', url: running.url });
  process.on('message', (m) => {
    if (m === 'stop') void stop();
    // The parent samples our CPU time around a load run, to see whether we were the bottleneck.
    if (m === 'cpu') process.send?.({ type: 'cpu', usage: process.cpuUsage() });
  });
  process.on('disconnect', () => void stop());
}
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
