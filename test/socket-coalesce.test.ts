/**
 * `coalesceWrites` (src/http/socket.ts): the events a socket is sent in one turn of the event loop
 * reach the TCP socket together, in one write, in order; none is lost, whichever the transport,
 * and a socket disconnected right after a burst still receives the whole burst first.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coalesceWrites } from '../src/http/socket.ts';

let http: HttpServer;
let io: Server;
let url: string;
const clients: Socket[] = [];

beforeAll(async () => {
  http = createServer();
  io = new Server(http, { perMessageDeflate: false, httpCompression: false });
  io.engine.on('connection', (conn: Parameters<typeof coalesceWrites>[0]) => coalesceWrites(conn));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await io.close();
});

async function connect(transports: ('websocket' | 'polling')[]): Promise<{ client: Socket; server: ServerSocket }> {
  const serverSide = new Promise<ServerSocket>((resolve) => io.once('connection', resolve));
  const client = connectClient(url, { transports, reconnection: false, forceNew: true });
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('connect_error', reject);
  });
  return { client, server: await serverSide };
}

function receive(client: Socket, n: number): Promise<number[]> {
  const got: number[] = [];
  return new Promise((resolve) => {
    client.on('tick', (i: number) => {
      got.push(i);
      if (got.length === n) resolve(got);
    });
  });
}

/** Counts the writes reaching the server side's TCP socket of a WebSocket connection. */
function countWrites(server: ServerSocket): () => number {
  const tcp = (server.conn as unknown as { transport: { socket: { _socket: Record<string, (...a: unknown[]) => unknown> } } }).transport.socket._socket;
  let writes = 0;
  for (const m of ['_write', '_writev']) {
    const original = tcp[m]!;
    tcp[m] = function (this: unknown, ...args: unknown[]) {
      writes++;
      return original.apply(this, args);
    };
  }
  return () => writes;
}

describe('coalesced socket writes', () => {
  it('a burst of events on a WebSocket goes out in order, in a handful of writes', async () => {
    const { client, server } = await connect(['websocket']);
    const writes = countWrites(server);
    const arrived = receive(client, 400);
    // One burst in a turn, then another from a promise continuation (as the pipeline emits).
    for (let i = 0; i < 200; i++) server.emit('tick', i);
    await Promise.resolve();
    for (let i = 200; i < 400; i++) server.emit('tick', i);
    expect(await arrived).toEqual(Array.from({ length: 400 }, (_, i) => i));
    // Uncoalesced, each event was a write of its own (400).
    expect(writes()).toBeLessThanOrEqual(4);
  });

  it('events sent one turn after another all arrive, in order', async () => {
    const { client, server } = await connect(['websocket']);
    const arrived = receive(client, 50);
    for (let i = 0; i < 50; i++) {
      server.emit('tick', i);
      await new Promise((r) => setImmediate(r));
    }
    expect(await arrived).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('long-polling clients get every event too', async () => {
    const { client, server } = await connect(['polling']);
    const arrived = receive(client, 100);
    for (let i = 0; i < 100; i++) server.emit('tick', i);
    expect(await arrived).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('a socket disconnected right after a burst receives the burst, then the disconnect', async () => {
    const { client, server } = await connect(['websocket']);
    const arrived = receive(client, 100);
    const closed = new Promise<string>((resolve) => client.once('disconnect', (reason) => resolve(reason)));
    for (let i = 0; i < 100; i++) server.emit('tick', i);
    server.disconnect(true);
    expect(await arrived).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(await closed).toBe('io server disconnect');
  });
});
