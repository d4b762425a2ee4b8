/**
 * HTTP, Socket.io and SSE clients for tests that talk to several server processes at once
 * (test/scale-out*.test.ts).
 */
import { io as connectClient, type Socket } from 'socket.io-client';

export async function api(base: string, path: string, o: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${base}${path}`, {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...o.headers,
    },
    body: o.body === undefined ? undefined : JSON.stringify(o.body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  return { status: res.status, json };
}

export async function login(base: string, email: string, password: string): Promise<string> {
  const r = await api(base, '/api/auth/login', { body: { email, password } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json.token as string;
}

export async function connect(base: string, token: string): Promise<Socket> {
  const socket = connectClient(base, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return socket;
}

export /** An SSE stream read in the background: its events, and whether it ended. */
function openSse(base: string, token: string) {
  const events: { event: string; data: string }[] = [];
  const ac = new AbortController();
  const state = { ended: false, open: false };
  const done = (async () => {
    const res = await fetch(`${base}/api/notifications/stream`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    if (res.status !== 200) throw new Error(`SSE ${res.status}`);
    state.open = true;
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data });
      }
    }
  })()
    .catch(() => {})
    .finally(() => (state.ended = true));
  return { events, state, done, close: () => ac.abort() };
}

export function nextEvent<T>(socket: Socket, event: string, match: (p: T) => boolean, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    const on = (p: T) => {
      if (!match(p)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(p);
    };
    socket.on(event, on);
  });
}
