/**
 * An ambiguous commit: the intake's statement (leads and job, in autocommit) reaches PostgreSQL
 * and commits, but its answer is lost on the wire (a TCP proxy of our own holds back every answer
 * and cuts the connection once the statement is done). The request must still be answered 202 with the lead it stored, exactly once, not
 * `duplicate: true`, which is only for a sender who sends twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSql, type Sql } from '../src/db/client.ts';
import { startServer, type RunningServer } from '../src/main.ts';
import { postLead, WEBHOOK_SECRET } from './support/child-server.ts';
import { afterFile, createTestDatabase } from './support/db.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

/** The intake's one statement (its text, sent on its first use on a connection). */
const INTAKE = 'insert into webhook_signatures';

let server: RunningServer;
let proxy: TcpProxy;
let sql: Sql;

beforeAll(async () => {
  const databaseUrl = await createTestDatabase('ambiguous');
  const target = new URL(databaseUrl);
  proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(databaseUrl);
  viaProxy.port = String(proxy.port);
  const dataDir = await mkdtemp(join(tmpdir(), 'livia-ambiguous-'));
  afterFile(() => rm(dataDir, { recursive: true, force: true }));
  server = await startServer({
    DATABASE_URL: viaProxy.toString(),
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    WEBHOOK_SECRET,
    ADMIN_PASSWORD: 'admin-password-1',
    WHATSAPP_DRIVER: 'simulator',
  });
  sql = createSql(databaseUrl, { max: 2, applicationName: 'ambiguous-test' });
});

afterAll(async () => {
  await server?.stop();
  await sql?.end({ timeout: 2 });
  await proxy?.close();
});

async function storedWith(field: 'id' | 'external_id' | 'idempotency_key', value: string): Promise<number> {
  const [r] = await sql<{ n: number }[]>`select count(*)::int as n from leads where ${sql(field)} = ${value}`;
  return r!.n;
}

describe('a commit whose answer was lost', () => {
  it('is answered 202 with the lead this request stored, and a later resend by the sender is the duplicate', async () => {
    const lost = proxy.loseAnswerTo(INTAKE);
    const first = await postLead(server.url, { name: 'Ambígua Um', email: 'ambigua1@x.test', external_id: 'amb-1' }, { 'Idempotency-Key': 'amb-key-1' });
    await lost; // the fault did happen on this very request's commit
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(first.body).toEqual({ id: expect.any(String), status: 'NEW' });
    const id = first.body.id as string;
    expect(await storedWith('id', id)).toBe(1);
    expect(await storedWith('external_id', 'amb-1')).toBe(1);

    // The sender sends the same lead again: now it is a duplicate, with the first lead's id.
    const again = await postLead(server.url, { name: 'Ambígua Um', email: 'ambigua1@x.test', external_id: 'amb-1' }, { 'Idempotency-Key': 'amb-key-1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ id, duplicate: true });
    expect(await storedWith('external_id', 'amb-1')).toBe(1);
  });

  it('without any idempotency key or external id too: one lead, answered 202 with its id', async () => {
    const lost = proxy.loseAnswerTo(INTAKE);
    const r = await postLead(server.url, { name: 'Ambígua Dois', email: 'ambigua2@x.test' });
    await lost;
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const [row] = await sql<{ n: number; id: string }[]>`select count(*)::int as n, min(id::text) as id from leads where email = 'ambigua2@x.test'`;
    expect(row).toEqual({ n: 1, id: r.body.id });
  });
});
