/**
 * `node --import tsx bench/whatsapp-auth.ts`: the cost of crash-safe Baileys auth state, as ratios
 * to Baileys' own `useMultiFileAuthState` (not atomic, no fsync) measured in the same run:
 * - the first pre-key upload (one `set()` of 812 pre-keys, INITIAL_PREKEY_COUNT in Baileys 7);
 * - a creds write (Baileys saves the creds on every `creds.update`);
 * - a typical message's key set (one session record, one sender-key memory, one device list).
 * The PostgreSQL store runs on a bench database (see lib/db.ts). Nothing is asserted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Curve, useMultiFileAuthState, type AuthenticationState } from '@whiskeysockets/baileys';
import postgres from 'postgres';
import { createFileAuthStore } from '../src/actors/whatsapp/auth-store-file.ts';
import { createPostgresAuthStore } from '../src/actors/whatsapp/auth-store-postgres.ts';
import { migrate } from '../src/db/migrate.ts';
import { openBenchDatabase } from './lib/db.ts';

const ROUNDS = Number(process.env.BENCH_AUTH_ROUNDS ?? 200);
const dir = await mkdtemp(join(tmpdir(), 'bench-auth-'));
const db = await openBenchDatabase();
const sql = postgres(db.url, { max: 4, onnotice: () => {} });
await migrate(sql, 'migrations');

type Subject = { name: string; state: AuthenticationState; saveCreds: () => Promise<void> };
const multi = await useMultiFileAuthState(join(dir, 'multi'));
const subjects: Subject[] = [
  { name: 'useMultiFileAuthState (baseline)', ...multi },
  { name: 'file store', ...(await createFileAuthStore({ dir, session: 'file' }).open()) },
  { name: 'postgres store', ...(await createPostgresAuthStore({ sql, session: 'pg' }).open()) },
];

const preKeys = Object.fromEntries(Array.from({ length: 812 }, (_, i) => [String(i + 1), Curve.generateKeyPair()]));
const results: Record<string, { preKeys812Ms: number; credsWriteMs: number; messageKeysMs: number }> = {};
for (const s of subjects) {
  let t = performance.now();
  await s.state.keys.set({ 'pre-key': preKeys });
  const preKeys812Ms = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < ROUNDS; i++) await s.saveCreds();
  const credsWriteMs = (performance.now() - t) / ROUNDS;
  t = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    await s.state.keys.set({
      session: { [`55119${i}.0`]: Buffer.alloc(600, i) },
      'sender-key-memory': { [`g${i}@g.us`]: { [`5511${i}@s.whatsapp.net`]: true } },
      'device-list': { [`5511${i}`]: ['0', '12'] },
    });
  }
  const messageKeysMs = (performance.now() - t) / ROUNDS;
  results[s.name] = { preKeys812Ms, credsWriteMs, messageKeysMs };
}

const base = results[subjects[0]!.name]!;
console.log(`server: ${db.source}, fsync=${db.server.fsync}, synchronous_commit=${db.server.synchronous_commit}; ${ROUNDS} rounds`);
console.log('subject                            pre-keys x812     creds write       message key set');
for (const [name, r] of Object.entries(results)) {
  const cell = (v: number, b: number) => `${v.toFixed(2)} ms (x${(v / b).toFixed(2)})`.padEnd(18);
  console.log(`${name.padEnd(35)}${cell(r.preKeys812Ms, base.preKeys812Ms)}${cell(r.credsWriteMs, base.credsWriteMs)}${cell(r.messageKeysMs, base.messageKeysMs)}`);
}
console.log(`BENCH_SUMMARY ${JSON.stringify({ bench: 'whatsapp-auth', rounds: ROUNDS, results })}`);

await sql.end({ timeout: 5 });
await db.close();
await rm(dir, { recursive: true, force: true });
