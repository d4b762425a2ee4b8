/**
 * Several server processes on one database (issue 14): spawn them, ask who owns a session, play a
 * customer on the simulator through any of them, and read what each customer received.
 *
 * @example
 * const [a, b] = await spawnInstances(url, ['a', 'b']);
 * await waitOwner([b], 'livia', (o) => o !== 'a');
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sql } from '../../src/db/client.ts';
import { ADMIN, spawnServer, until, type ChildServer } from './child-server.ts';

export interface Instance extends ChildServer {
  id: string;
  token: string;
}

export async function spawnInstance(url: string, id: string, env: Record<string, string>): Promise<Instance> {
  const dataDir = await mkdtemp(join(tmpdir(), `livia-${id}-`));
  const s = await spawnServer({ DATABASE_URL: url, DATA_DIR: dataDir, INSTANCE_ID: id, ...env });
  await s.waitReady(90_000);
  let res: Response;
  for (let attempt = 1; ; attempt++) {
    res = await fetch(`${s.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    // A loaded machine: the database may answer 503 (statement timeout) for a while.
    if (res.status !== 503 || attempt >= 10) break;
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 1000));
  }
  const body = (await res.json()) as { token?: string };
  if (!body.token) throw new Error(`login on ${id} failed: ${res.status} ${JSON.stringify(body)}`);
  const token = body.token;
  return Object.assign(s, { id, token });
}

interface Owners {
  [session: string]: { instance: string | null; epoch: number | null; here: boolean };
}

/** The session's owners as one instance's /ready reports them (undefined when it does not answer). */
export async function owners(s: Instance): Promise<Owners | undefined> {
  const res = await fetch(`${s.url}/ready`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined);
  if (!res) return undefined;
  const body = (await res.json()) as { checks: { whatsapp: { owners?: Owners } } };
  return body.checks.whatsapp.owners;
}

/** Waits until an instance reports an owner of `session` that passes `ok`; returns it. */
export async function waitOwner(from: Instance[], session: string, ok: (owner: string) => boolean, timeoutMs = 30_000): Promise<string> {
  return until(
    `an owner of ${session}`,
    async () => {
      for (const s of from) {
        const o = (await owners(s))?.[session]?.instance;
        if (o && ok(o)) return o;
      }
      return undefined;
    },
    timeoutMs,
    50,
  );
}

export function api(s: Instance, path: string, body?: unknown): Promise<Response> {
  return fetch(`${s.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${s.token}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

export const jidOf = (phone: string) => `${phone.replace(/\D/g, '')}@s.whatsapp.net`;

/** What the customer received on the simulator, oldest first. */
export async function received(sql: Sql, phone: string): Promise<{ text: string | null; sent_by: string | null; last_sent_by: string | null; sends: number }[]> {
  return sql<{ text: string | null; sent_by: string | null; last_sent_by: string | null; sends: number }[]>`
    select text, sent_by, last_sent_by, sends from wa_simulator_sent where to_jid = ${jidOf(phone)} order by at, wa_id`;
}

/** The customer writes through `via`, and waits for more answers than before (one per message). */
export async function say(sql: Sql, via: () => Instance, phone: string, text: string, timeoutMs = 40_000): Promise<void> {
  const before = (await received(sql, phone)).length;
  for (;;) {
    const res = await api(via(), '/api/simulator/messages', { session: 'livia', from: phone, text }).catch(() => undefined);
    if (res?.status === 202) break;
    // The instance it went to died meanwhile: the customer tries another (WhatsApp would hold it).
    await new Promise((r) => setTimeout(r, 200));
  }
  await until(`an answer to "${text}" for ${phone}`, async () => (await received(sql, phone)).length > before, timeoutMs, 50);
}

/** What the customer received once nothing more arrived for `quietMs` (replies after a handoff come late). */
export async function settled(sql: Sql, phone: string, quietMs = 3000): Promise<(string | null)[]> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const n = (await received(sql, phone)).length;
    if (n !== last) {
      last = n;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return (await received(sql, phone)).map((r) => r.text);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
