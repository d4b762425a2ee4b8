/**
 * Helpers shared by the lead pipeline tests (webhooks, consultants, polling). Not a test file.
 */
import { io as connectClient, type Socket } from 'socket.io-client';
import { expect } from 'vitest';
import { signWebhook } from '../src/http/webhook-signature.ts';
import type { TestServer } from './support/server.ts';

export const WEBHOOK_SECRET = 'lead-tests-webhook-secret-0123456789';

export async function sendLead(
  baseUrl: string,
  body: Record<string, unknown>,
  opts: { secret?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const raw = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  return fetch(`${baseUrl}/api/webhooks/leads`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-webhook-timestamp': String(ts),
      'x-webhook-signature': signWebhook(opts.secret ?? WEBHOOK_SECRET, ts, raw),
      ...opts.headers,
    },
    body: raw,
  });
}

/** Sends a lead and returns its id (expects 202). */
export async function createLead(baseUrl: string, body: Record<string, unknown>): Promise<string> {
  const res = await sendLead(baseUrl, body);
  if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export interface Person {
  id: string;
  email: string;
  password: string;
  token: string;
}

let seq = 0;
export async function createUser(
  s: TestServer,
  adminToken: string,
  over: { name?: string; role?: 'CONSULTANT' | 'MANAGER' | 'ADMIN'; max_open_leads?: number; active?: boolean } = {},
): Promise<Person> {
  const n = ++seq;
  const email = `user${n}-${Math.random().toString(36).slice(2, 8)}@livia.test`;
  const password = `password-${n}-xyz`;
  const res = await s.api('/api/consultants', {
    token: adminToken,
    body: { name: over.name ?? `Consultor ${n}`, email, password, role: over.role ?? 'CONSULTANT', ...pick(over, 'max_open_leads', 'active') },
  });
  if (res.status !== 201) throw new Error(`create consultant: ${res.status} ${await res.text()}`);
  const { id } = (await res.json()) as { id: string };
  // An inactive user cannot sign in; the token is only useful for active ones.
  const token = over.active === false ? '' : await s.login(email, password);
  return { id, email, password, token };
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** A Socket.io client that records every event it receives. */
export async function connectSocket(url: string, token: string): Promise<{ socket: Socket; events: { name: string; data: any }[] }> {
  const socket = connectClient(url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
  const events: { name: string; data: any }[] = [];
  socket.onAny((name: string, data: unknown) => events.push({ name, data }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  return { socket, events };
}

/** Asserts the contract's error shape and returns the error. */
export async function expectApiError(res: Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error: { code: string; message: string; details?: { path: string; message: string }[] } };
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
  if (code) expect(body.error.code).toBe(code);
  return body.error;
}
