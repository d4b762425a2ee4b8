/**
 * The Socket.io Postgres adapter (src/db/socket-adapter.ts) stops publishing broadcasts while no
 * other instance is known, and publishes again as soon as one announces itself. Two real
 * Socket.io servers in this process, each with its own adapter on one real database, real
 * socket.io-client connections, and a LISTEN of our own on the adapter's channel to see what it
 * publishes. Timings are shortened through the adapter's options. A paused peer (connected, silent)
 * keeps it publishing.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import pg from 'pg';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocketAdapter, type SocketAdapter } from '../src/db/socket-adapter.ts';
import { createLogger } from '../src/log.ts';
import { testSql } from './support/db.ts';

const log = createLogger('silent');
const TIMINGS = { aloneAfterMs: 600, checkMs: 200, heartbeatInterval: 100, heartbeatTimeout: 300 };

interface Instance {
  io: Server;
  http: HttpServer;
  adapter: SocketAdapter;
  url: string;
}

const clients: Socket[] = [];
const instances: Instance[] = [];
let url: string;
/** BROADCAST messages seen on the adapter's channel, by the event's first argument. */
const published: string[] = [];
let stopListening: (() => Promise<void>) | undefined;

async function startInstance(): Promise<Instance> {
  const adapter = createSocketAdapter({ url, log, ...TIMINGS });
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  io.adapter(adapter.factory);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const inst = { io, http, adapter, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
  instances.push(inst);
  return inst;
}

async function stopInstance(i: Instance): Promise<void> {
  await new Promise<void>((r) => i.io.close(() => r()));
  await i.adapter.close();
  instances.splice(instances.indexOf(i), 1);
}

async function connect(i: Instance): Promise<Socket> {
  const socket = connectClient(i.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  clients.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Emits `tag` from `from` to everyone, and waits until `receiver` has it. */
async function emitAndReceive(from: Instance, receiver: Socket, tag: string): Promise<void> {
  const got = new Promise<void>((resolve) => {
    const on = (t: string) => {
      if (t !== tag) return;
      receiver.off('tick', on);
      resolve();
    };
    receiver.on('tick', on);
  });
  from.io.emit('tick', tag);
  await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error(`${tag} not received`)), 3000))]);
}

beforeAll(async () => {
  const db = await testSql();
  url = db.url;
  const listener = await db.sql.listen('socket.io#/', (payload) => {
    const m = JSON.parse(payload) as { type: number; data?: { packet?: { data?: unknown[] } } };
    if (m.type === 3) published.push(String(m.data?.packet?.data?.[1]));
  });
  stopListening = () => listener.unlisten();
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  for (const i of [...instances]) await stopInstance(i);
  await stopListening?.();
});

describe('Socket.io Postgres adapter', () => {
  it('an instance alone stops publishing its broadcasts, and publishes again once another instance starts', async () => {
    const a = await startInstance();
    const onA = await connect(a);

    // Just started: it does not know yet whether it is alone, so it publishes.
    await emitAndReceive(a, onA, 'early');
    await until(() => published.includes('early'), 'the early broadcast on the channel');

    // Nobody else has spoken for aloneAfterMs: local delivery goes on, nothing is published.
    // (Polled, not slept: on a busy machine the listening connection's checks come late.)
    await until(() => a.adapter.alone(), 'A to count itself alone');
    const skippedBefore = a.adapter.skipped();
    await emitAndReceive(a, onA, 'alone');
    // A NOTIFY travels in milliseconds; a later broadcast that did arrive proves the channel works.
    await new Promise((r) => setTimeout(r, 300));
    expect(published).not.toContain('alone');
    expect(a.adapter.skipped()).toBe(skippedBefore + 1);

    // A second instance announces itself when it starts: A learns of it and publishes again.
    const b = await startInstance();
    const onB = await connect(b);
    await until(async () => (await a.io.of('/').adapter.serverCount()) === 2, 'A to learn of B');
    expect(a.adapter.alone()).toBe(false);
    await emitAndReceive(a, onB, 'cross-1');
    await emitAndReceive(b, onA, 'cross-2');
    // Our own LISTEN is another connection: it may hear a NOTIFY a moment after the instances do.
    await until(() => published.includes('cross-1') && published.includes('cross-2'), 'both cross-instance broadcasts on the channel');

    // As long as B lives (its heartbeats), A keeps publishing, past aloneAfterMs.
    await new Promise((r) => setTimeout(r, TIMINGS.aloneAfterMs + 200));
    await emitAndReceive(a, onB, 'cross-3');
    expect(a.adapter.alone()).toBe(false);

    // B gone: after aloneAfterMs of silence A is alone again.
    await stopInstance(b);
    await until(() => a.adapter.alone(), 'A to count itself alone again');
    await emitAndReceive(a, onA, 'alone-again');
    await new Promise((r) => setTimeout(r, 300));
    expect(published).not.toContain('alone-again');
    await stopInstance(a);
  });

  it('an instance whose peer is paused (silent, still connected) keeps publishing: the peer hears it all when it resumes', async () => {
    const a = await startInstance();
    const onA = await connect(a);
    await until(() => a.adapter.alone(), 'A to count itself alone');
    // A paused instance (SIGSTOP, a long GC, a starved event loop) sends no heartbeat, but its
    // listening connection stays open: PostgreSQL queues the NOTIFYs for it.
    const paused = new pg.Client({ connectionString: url, application_name: 'livia-socketio-listen' });
    await paused.connect();
    try {
      await until(() => !a.adapter.alone(), 'A to see the paused instance at its next check');
      // Silent far past aloneAfterMs, and A still publishes.
      await new Promise((r) => setTimeout(r, TIMINGS.aloneAfterMs * 2));
      expect(a.adapter.alone()).toBe(false);
      await emitAndReceive(a, onA, 'to-the-paused');
      await until(() => published.includes('to-the-paused'), 'the broadcast on the channel');
    } finally {
      await paused.end();
    }
    // Its connection gone (the process died): alone again.
    await until(() => a.adapter.alone(), 'A to count itself alone once the paused instance is gone');
  });
});
