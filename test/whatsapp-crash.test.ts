/**
 * Exactly one WhatsApp message across a real `kill -9` between "pending" and "sent": a child process
 * (test/fixtures/wa-send-child.ts) commits the pending row and the send effect, then SIGKILLs itself
 * either before the driver's sendMessage or after the wire (the simulator) has the message but before
 * the effect is marked done. The next process sends it again under the same WhatsApp id: the wire
 * holds one message, and the status reaches delivered.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSql } from '../src/db/client.ts';
import { afterFile, createTestDatabase } from './support/db.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = 'test/fixtures/wa-send-child.ts';

function run(mode: 'send' | 'resume', env: Record<string, string>): Promise<{ lines: string[]; signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const rl = createInterface({ input: proc.stdout });
  rl.on('line', (l) => lines.push(l));
  const closed = new Promise<void>((r) => rl.once('close', () => r()));
  return new Promise((resolve) => proc.once('exit', (code, signal) => void closed.then(() => resolve({ lines, signal, code, stderr }))));
}

describe('outbound WhatsApp across kill -9', () => {
  for (const killAt of ['before-send', 'after-send'] as const) {
    it(`killed ${killAt}: one message on the wire, delivered after the restart`, async () => {
      const url = await createTestDatabase('wa');
      const sql = createSql(url, { max: 2 });
      afterFile(() => sql.end({ timeout: 2 }));

      const first = await run('send', { DATABASE_URL: url, KILL_AT: killAt });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      // The one outbound message (the child may die before it prints `pending <id>`).
      const rows = await sql<{ id: string; status: string; wa_id: string }[]>`select id, status, wa_id from wa_messages where direction = 'out'`;
      expect(rows, first.stderr).toHaveLength(1);
      const before = rows[0]!;
      const id = before.id;
      expect(before.status).toBe('pending');
      const [wireBefore] = await sql<{ n: number }[]>`select count(*)::int as n from wa_simulator_sent`;
      expect(wireBefore!.n).toBe(killAt === 'after-send' ? 1 : 0);

      const second = await run('resume', { DATABASE_URL: url });
      expect(second.code, second.stderr).toBe(0);
      expect(second.lines).toEqual([`status ${id} delivered`]);
      const wire = await sql<{ wa_id: string; text: string }[]>`select wa_id, text from wa_simulator_sent`;
      expect(wire).toEqual([{ wa_id: before.wa_id, text: 'exatamente uma vez' }]);
    }, 60_000);
  }
});
