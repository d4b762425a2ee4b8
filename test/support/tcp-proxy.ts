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
  /**
   * Arms a one-shot fault for a statement in autocommit: on the first connection that sends
   * `marker` (the statement's text, sent on its first use on a connection), the statement is
   * delivered but no answer from then on is, and the connection is cut once the server has
   * finished it (its ReadyForQuery, held back, arrived): committed, and the client cannot know.
   * Resolves when it happened.
   */
  loseAnswerTo(marker: string): Promise<void>;
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
  // ... and with status 'I': idle, outside a transaction (an autocommit statement is done).
  const READY_FOR_QUERY_IDLE = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
  // Execute of the unnamed portal, all rows: what postgres.js sends to run a statement.
  const EXECUTE = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0]);
  let silenced: Armed | undefined;
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    let sawMarker = false;
    let silencing: Armed | undefined;
    // The statements this connection prepared (name → text): a prepared one runs by name only.
    const statements = new Map<string, string>();
    // The marker's statement answered (ReadyForQuery seen): what the client sends next is the COMMIT.
    let answered = false;
    upstream.on('data', (chunk: Buffer) => {
      if (sawMarker && chunk.includes(READY_FOR_QUERY_IN_TX)) answered = true;
    });
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      const prepared = parses(chunk, statements);
      if (silenced && !silencing && (chunk.includes(silenced.marker) || usesStatementWith(chunk, statements, silenced.marker, prepared))) {
        silencing = silenced;
      }
      // The statement's Execute (with its text, or, described first, in the next message).
      if (silencing && chunk.includes(EXECUTE)) {
        const fault = silencing;
        silenced = silencing = undefined;
        upstream.unpipe(client);
        upstream.on('data', (answer: Buffer) => {
          if (!answer.includes(READY_FOR_QUERY_IDLE)) return;
          client.destroy();
          upstream.destroy();
          fault.done();
        });
        // unpipe() left it paused: read (and drop) the answers.
        upstream.resume();
        return;
      }
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
    loseAnswerTo(marker: string) {
      return new Promise<void>((done) => {
        silenced = { marker: Buffer.from(marker), done };
      });
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

/**
 * Records the statements a client chunk prepares (Parse: 'P', length, name, NUL, text, NUL, ...),
 * walking its messages; returns the names it prepared.
 */
function parses(chunk: Buffer, into: Map<string, string>): Set<string> {
  const names = new Set<string>();
  let at = 0;
  while (at + 5 <= chunk.length) {
    const type = chunk[at]!;
    const length = chunk.readUInt32BE(at + 1);
    if (length < 4 || at + 1 + length > chunk.length) break;
    if (type === 0x50) {
      const nameEnd = chunk.indexOf(0, at + 5);
      const textEnd = chunk.indexOf(0, nameEnd + 1);
      if (nameEnd < 0 || textEnd < 0) break;
      const name = chunk.toString('utf8', at + 5, nameEnd);
      into.set(name, chunk.toString('utf8', nameEnd + 1, textEnd));
      names.add(name);
    }
    at += 1 + length;
  }
  return names;
}

/** The chunk binds (Bind: 'B', length, portal, NUL, statement, NUL) a statement whose text has `marker`. */
function usesStatementWith(chunk: Buffer, statements: Map<string, string>, marker: Buffer, justPrepared: Set<string>): boolean {
  const text = marker.toString('utf8');
  for (const [name, sql] of statements) {
    if (!name || justPrepared.has(name) || !sql.includes(text)) continue;
    if (chunk.includes(Buffer.from(`\0${name}\0`, 'binary'))) return true;
  }
  return false;
}
