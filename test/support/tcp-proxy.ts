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
  /**
   * Arms a one-shot fault: on the first connection that sends `marker` (the last statement of a
   * transaction, sent as text), the next message it sends (the COMMIT; a prepared one carries no
   * text to match) is delivered but its answer is not, and the connection is cut once the server
   * has had time to commit. The client is left not knowing whether its transaction committed.
   * Resolves when it happened.
   */
  loseCommitAnswerAfter(marker: string): Promise<void>;
  close(): Promise<void>;
}

interface Armed {
  marker: Buffer;
  done(): void;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  let armed: Armed | undefined;
  // ReadyForQuery ('Z', length 5) with status 'T': idle inside a transaction.
  const READY_FOR_QUERY_IN_TX = Buffer.from([0x5a, 0, 0, 0, 5, 0x54]);
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    let sawMarker = false;
    // The marker's statement answered (ReadyForQuery seen): what the client sends next is the COMMIT.
    let answered = false;
    upstream.on('data', (chunk: Buffer) => {
      if (sawMarker && chunk.includes(READY_FOR_QUERY_IN_TX)) answered = true;
    });
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (!armed) return;
      if (!sawMarker) {
        sawMarker = chunk.includes(armed.marker);
      } else if (answered) {
        const fault = armed;
        armed = undefined;
        // The COMMIT reaches the server; its answer never reaches the client.
        upstream.unpipe(client);
        upstream.pause();
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
          fault.done();
        }, 300);
      }
    });
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
    loseCommitAnswerAfter(marker: string) {
      return new Promise<void>((done) => {
        armed = { marker: Buffer.from(marker), done };
      });
    },
    close() {
      proxy.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
