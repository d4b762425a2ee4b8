/**
 * `kill -9` of the whole server (a child process on the simulator) in the middle of a Lívia
 * conversation, twice: once the moment a customer's message is stored (before or while Lívia takes
 * it), once the moment her reply reaches the wire (before its effect is marked done). Each restart
 * resumes at the same stage with the same data; the stored message is answered (the start-up
 * recovery delivers it), and no reply reaches the customer twice.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN, killServers, spawnServer, until, type ChildServer } from './support/child-server.ts';
import { testSql } from './support/db.ts';

const PHONE = '+5511987657101';
const SCRIPT = ['Oi, aqui é a Carla', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim'];
let dataDir = '';

afterAll(async () => {
  killServers();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function login(s: ChildServer): Promise<string> {
  const res = await fetch(`${s.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  return ((await res.json()) as { token: string }).token;
}

describe('kill -9 of the server mid-conversation', () => {
  it('resumes at the same stage with the same data, answers what was stored, and sends no reply twice', { timeout: 240_000 }, async () => {
    const { sql, url } = await testSql();
    dataDir = await mkdtemp(join(tmpdir(), 'livia-crash-'));
    const env = { DATABASE_URL: url, DATA_DIR: dataDir, LIVIA_BURST_MS: '0', LIVIA_TYPING_MS_PER_CHAR: '0', WHATSAPP_SEND_PER_MINUTE: '10000' };
    const boot = async () => {
      const s = await spawnServer(env);
      await s.waitReady();
      return { s, token: await login(s) };
    };
    let { s, token } = await boot();
    await fetch(`${s.url}/api/consultants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ name: 'Rafael Lima', email: 'rafael@crash.test', password: 'rafael-password-1', role: 'CONSULTANT', max_open_leads: 10 }),
    });
    const sentCount = async () => (await sql<{ n: number }[]>`select count(*)::int as n from wa_simulator_sent where to_jid = ${`${PHONE.slice(1)}@s.whatsapp.net`}`)[0]!.n;
    const storedCount = async () => (await sql<{ n: number }[]>`select count(*)::int as n from wa_messages where session = 'livia' and direction = 'in'`)[0]!.n;
    const post = (text: string) =>
      fetch(`${s.url}/api/simulator/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ session: 'livia', from: PHONE, text }),
      }).then((r) => expect(r.status).toBe(202));
    const say = async (text: string) => {
      const before = await sentCount();
      await post(text);
      await until(`an answer to "${text}"`, async () => (await sentCount()) > before, 30_000, 20);
    };
    const stageAndData = async () => (await sql<{ stage: string; data: Record<string, unknown> }[]>`select stage, data from conversations where phone = ${PHONE}`)[0];

    for (const text of SCRIPT.slice(0, 2)) await say(text);

    // Kill 1: the moment the third message is stored.
    const stored = await storedCount();
    await post(SCRIPT[2]!);
    await until('the message stored', async () => (await storedCount()) > stored, 30_000, 2);
    s.child.kill('SIGKILL');
    expect((await s.exited).signal).toBe('SIGKILL');
    const atKill1 = await stageAndData();

    ({ s, token } = await boot());
    // Answered after the restart (whether the dead process had taken it or not), once.
    await until('the third answer', async () => (await sentCount()) >= 3, 30_000, 50);
    const resumed = await stageAndData();
    expect(resumed!.stage).toBe('QUALIFICATION');
    expect(Object.keys(resumed!.data)).toEqual(expect.arrayContaining(Object.keys(atKill1!.data)));
    expect(resumed!.data).toMatchObject({ name: 'Carla', requested_amount: 30_000 });

    // Kill 2: the moment Lívia's answer to the fourth message is on the wire.
    const before = await sentCount();
    await post(SCRIPT[3]!);
    await until('the fourth answer on the wire', async () => (await sentCount()) > before, 30_000, 2);
    s.child.kill('SIGKILL');
    await s.exited;
    const atKill2 = await stageAndData();

    ({ s, token } = await boot());
    expect(await stageAndData()).toEqual(atKill2);
    for (const text of SCRIPT.slice(4)) await say(text);
    await until('TRANSFERRED', async () => (await stageAndData())?.stage === 'TRANSFERRED', 30_000, 50);
    await new Promise((r) => setTimeout(r, 500));

    // Each customer message once in the transcript; each of Lívia's replies once on the wire, and
    // the wire is exactly what the transcript says she said.
    const transcript = await sql<{ role: string; text: string }[]>`
      select m.role, m.text from conversation_messages m join conversations c on c.id = m.conversation_id where c.phone = ${PHONE} order by m.id`;
    expect(transcript.filter((m) => m.role === 'customer').map((m) => m.text)).toEqual(SCRIPT);
    const wire = await sql<{ text: string }[]>`select text from wa_simulator_sent where to_jid = ${`${PHONE.slice(1)}@s.whatsapp.net`} order by at, wa_id`;
    const livia = transcript.filter((m) => m.role === 'livia').map((m) => m.text);
    expect(wire.map((w) => w.text).sort()).toEqual([...livia].sort());
    expect(new Set(livia).size).toBe(livia.length);
    const outbound = await sql<{ n: number; distinct: number }[]>`
      select count(*)::int as n, count(distinct wa_id)::int as distinct from wa_messages where session = 'livia' and direction = 'out'`;
    expect(outbound[0]!.n).toBe(livia.length);
    s.child.kill('SIGTERM');
    await s.exited;
  });
});
