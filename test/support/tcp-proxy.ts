/**
 * A TCP proxy on 127.0.0.1 in front of PostgreSQL, for fault tests: `pause()` stops carrying bytes
 * both ways (a network stall: sockets stay open, nothing arrives), `resume()` carries on, and
 * `cut()` destroys every open connection (a network cut).
 *
 * @example
 * const proxy = await startTcpProxy('127.0.0.1', 5432);
 * const url = `postgres://postgres@127.0.0.1:${proxy.port}/db`;
 * proxy.pause(); ... proxy.resume();
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections open now. */
  readonly open: number;
  pause(): void;
  resume(): void;
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    // After pipe(), which would resume them.
    if (paused) {
      client.pause();
      upstream.pause();
    }
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const proxy: TcpProxy = {
    port,
    get open() {
      return pairs.size;
    },
    pause() {
      paused = true;
      for (const [a, b] of pairs) {
        a.pause();
        b.pause();
      }
    },
    resume() {
      paused = false;
      for (const [a, b] of pairs) {
        a.resume();
        b.resume();
      }
    },
    cut() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    close() {
      proxy.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
