/**
 * `kill -9` in the middle of a conversation: a child process (test/fixtures/conversation-child.ts)
 * runs Lívia and is SIGKILLed right after WhatsApp (a stand-in table) took reply 3, before the
 * effect was marked done. The next process resumes at the same stage with the same data, runs that
 * effect again under the same id (the transport sends nothing twice), and finishes the dialogue.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { conversationByPhone, transcriptOf } from '../src/db/conversations.ts';
import { testSql } from './support/db.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = ['Oi, aqui é a Carla', 'quero reformar a casa', 'uns 30 mil', 'ganho 5 mil', 'em 24x', 'sim', 'pode sim'];
const PHONE = '+5511987657001';

function run(mode: 'talk' | 'resume', env: Record<string, string>): Promise<{ lines: string[]; code: number | null; signal: string | null; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/conversation-child.ts', mode], {
    cwd: ROOT,
    env: { ...process.env, ...env, PHONE, SCRIPT: JSON.stringify(SCRIPT) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const rl = createInterface({ input: proc.stdout });
  rl.on('line', (l) => lines.push(l));
  const closed = new Promise<void>((r) => rl.once('close', () => r()));
  return new Promise((resolve) => proc.once('exit', (code, signal) => void closed.then(() => resolve({ lines, code, signal, stderr }))));
}

describe('kill -9 mid-conversation', () => {
  it('resumes at the same stage with the same data, and no reply is sent twice', { timeout: 120_000 }, async () => {
    const { sql, url } = await testSql();
    const killed = await run('talk', { DATABASE_URL: url, KILL_AT_REPLY: '3' });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(killed.lines).toEqual(['answered 1', 'answered 2']);

    // What the dead process left: reply 3 went out, its effect is still pending.
    const row = await conversationByPhone(sql, PHONE);
    expect(row!.stage).toBe('QUALIFICATION');
    expect(row!.data).toEqual({ name: 'Carla', purpose: 'reforma ou construção', requested_amount: 30_000 });
    const [pending] = await sql<{ n: number }[]>`select count(*)::int as n from actor_outbox where actor_id = ${PHONE} and done_at is null`;
    expect(pending!.n).toBe(1);

    const resumed = await run('resume', { DATABASE_URL: url });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.lines[0]).toBe(`state QUALIFICATION ${JSON.stringify(row!.data)}`);
    expect(resumed.lines.at(-1)).toBe('done TRANSFERRED');

    // Each reply went out once: one key per reply number, reply 3 called twice under its key.
    const sent = await sql<{ n: number; text: string }[]>`select n, text from fake_wa_sent order by n`;
    expect(sent.map((s) => s.n)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const calls = await sql<{ n: number; calls: number; keys: number }[]>`
      select n, count(*)::int as calls, count(distinct key)::int as keys from fake_wa_calls group by n order by n`;
    for (const c of calls) expect(c.keys, `reply ${c.n}`).toBe(1);
    expect(calls.find((c) => c.n === 3)!.calls).toBeGreaterThanOrEqual(2);

    // The transcript agrees with what the customer received, and holds each message once.
    const transcript = await transcriptOf(sql, PHONE);
    expect(transcript.filter((m) => m.role === 'customer').map((m) => m.text)).toEqual(SCRIPT);
    expect(transcript.filter((m) => m.role === 'livia').map((m) => m.text)).toEqual(sent.map((s) => s.text));
    const final = await conversationByPhone(sql, PHONE);
    expect(final).toMatchObject({ stage: 'TRANSFERRED' });
    expect(final!.data).toMatchObject({ name: 'Carla', requested_amount: 30_000, monthly_income: 5_000, term_months: 26, consent: { value: true } });
  });
});
