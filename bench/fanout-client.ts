/**
 * A load-generator process of bench/fanout.ts: opens Socket.io clients (websocket transport, one
 * session token) to one server, and records when each `lead:updated` arrives on each of them, by
 * the lead's `version`, on the epoch clock (`performance.timeOrigin + performance.now()`, shared by
 * the processes of one machine).
 *
 * IPC: `{type: 'connect', url, token, count}` → `{type: 'connected', count, failed}`;
 * `{type: 'collect'}` → `{type: 'samples', byVersion, disconnects, connected}` (and forgets them);
 * `{type: 'close'}` → disconnects every client and exits.
 */
import { io, type Socket } from 'socket.io-client';

const sockets: Socket[] = [];
let byVersion: Record<number, number[]> = {};
/** Why connected clients dropped (socket.io's disconnect reasons), since the last collect. */
let disconnects: Record<string, number> = {};
const now = () => performance.timeOrigin + performance.now();

async function connect(url: string, token: string, count: number): Promise<{ count: number; failed: number }> {
  let failed = 0;
  let next = 0;
  // A bounded number of handshakes at a time: a burst of thousands would time out on a busy machine.
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < count) {
        next++;
        const s = io(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60_000 });
        const ok = await new Promise<boolean>((resolve) => {
          s.once('connect', () => resolve(true));
          s.once('connect_error', () => resolve(false));
        });
        if (!ok) {
          failed++;
          s.close();
          continue;
        }
        s.on('disconnect', (reason: string) => {
          disconnects[reason] = (disconnects[reason] ?? 0) + 1;
        });
        s.on('lead:updated', (l: { version: number }) => {
          (byVersion[l.version] ??= []).push(now());
        });
        sockets.push(s);
      }
    }),
  );
  return { count: sockets.length, failed };
}

process.on('message', (m: { type: string; url?: string; token?: string; count?: number }) => {
  if (m.type === 'connect') {
    void connect(m.url!, m.token!, m.count!).then((r) => process.send!({ type: 'connected', ...r }));
  } else if (m.type === 'collect') {
    process.send!({ type: 'samples', byVersion, disconnects, connected: sockets.filter((s) => s.connected).length });
    byVersion = {};
    disconnects = {};
  } else if (m.type === 'close') {
    for (const s of sockets) s.disconnect();
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' });
