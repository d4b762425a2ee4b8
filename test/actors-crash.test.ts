/**
 * Durability across a real `kill -9`: a child process (test/fixtures/actor-child.ts) runs the
 * actor runtime on a database of this test, prints a line per committed event, and is killed
 * with SIGKILL. The database, and the next process on it, must agree with everything it printed.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { journalFor, loadSnapshot } from '../src/db/actors.ts';
import { testSql } from './support/db.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = 'test/fixtures/actor-child.ts';
const RING = 'xstate.after.ALARM.child-counter.waiting';

interface Child {
  proc: ChildProcessWithoutNullStreams;
  lines: string[];
  /** Resolves with the first line matching, rejects if the child exits first. */
  waitFor(predicate: (lines: string[]) => boolean, what: string): Promise<void>;
  /** Resolves once the process has exited and its stdout has been read to the end. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function startChild(mode: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const waiters = new Set<() => void>();
  const rl = createInterface({ input: proc.stdout });
  rl.on('line', (line) => {
    lines.push(line);
    for (const w of waiters) w();
  });
  const stdoutDone = new Promise<void>((r) => rl.once('close', () => r()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const closed = Promise.all([exited, stdoutDone]).then(([e]) => e);
  return {
    proc,
    lines,
    closed,
    stderr: () => err,
    waitFor(predicate, what) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (predicate(lines)) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
        void closed.then(() => {
          if (!predicate(lines)) reject(new Error(`child ${mode} exited before ${what}; stderr:\n${err}`));
        });
      });
    },
  };
}

async function runToEnd(mode: string, env: Record<string, string>): Promise<string[]> {
  const child = startChild(mode, env);
  const { code, signal } = await child.closed;
  if (code !== 0) throw new Error(`child ${mode} exited with ${code ?? signal}; stderr:\n${child.stderr()}`);
  return child.lines;
}

const byType = <T extends { event: unknown }>(journal: T[], type: string): T[] => journal.filter((j) => (j.event as { type: string }).type === type);

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('kill -9 of a process running actors', () => {
  it('loses no acknowledged event and duplicates none; the next process carries on', { timeout: 90_000 }, async () => {
    const { sql, url } = await testSql();
    const ACTORS = 6;
    const N = 1500;
    const env = { DATABASE_URL: url, ACTORS: String(ACTORS), SENDERS: '4' };

    const child = startChild('load', env);
    await child.waitFor((lines) => lines.length >= N, `${N} acknowledged events`);
    child.proc.kill('SIGKILL');
    const { signal } = await child.closed;
    expect(signal).toBe('SIGKILL');

    const acks = child.lines.map((l) => {
      const [tag, actor, seq, n] = l.split(' ');
      expect(tag).toBe('ack');
      return { actor: actor!, seq: Number(seq), n: Number(n) };
    });
    expect(acks.length).toBeGreaterThanOrEqual(N);

    const lastSeq = new Map<string, number>();
    const incs = new Map<string, number>();
    for (let a = 0; a < ACTORS; a++) {
      const id = `c${a}`;
      const journal = await journalFor(sql, 'counter', id);
      // Contiguous from 0, so no gap and (with the count) no duplicate.
      expect(journal.map((j) => j.seq)).toEqual(journal.map((_, i) => i));
      expect(new Set(journal.map((j) => j.seq)).size).toBe(journal.length);
      const nums = byType(journal, 'inc').map((j) => (j.event as { n: number }).n);
      expect(new Set(nums).size).toBe(nums.length);

      // Every acknowledged event is on disk, at the seq the sender was told.
      const bySeq = new Map(journal.map((j) => [j.seq, j.event as { type: string; n?: number }]));
      for (const ack of acks.filter((x) => x.actor === id)) {
        expect(bySeq.get(ack.seq), `${id} seq ${ack.seq}`).toEqual({ type: 'inc', n: ack.n });
      }

      const row = await loadSnapshot(sql, 'counter', id);
      const last = journal.at(-1)!.seq;
      expect(row?.seq).toBe(last);
      expect((row!.snapshot as { context: { count: number } }).context.count).toBe(nums.length);
      lastSeq.set(id, last);
      incs.set(id, nums.length);
    }
    // The kill came mid-stream: something was in flight for at least some actors, and all of them
    // got events.
    expect([...incs.values()].every((n) => n > 0)).toBe(true);

    // A new process rehydrates every actor exactly where the journal left it.
    const resumed = await runToEnd('resume', env);
    for (let a = 0; a < ACTORS; a++) {
      const id = `c${a}`;
      const state = resumed.find((l) => l.startsWith(`state ${id} `));
      expect(state).toBe(`state ${id} ${lastSeq.get(id)! + 1} ${incs.get(id)! + 1}`);
      const journal = await journalFor(sql, 'counter', id);
      expect(journal.map((j) => j.seq)).toEqual(journal.map((_, i) => i));
    }
  });

  it('fires a durable timer that fell due while the process was dead exactly once', { timeout: 90_000 }, async () => {
    const { sql, url } = await testSql();
    const env = { DATABASE_URL: url, DELAY_MS: '2000' };

    const child = startChild('arm', env);
    await child.waitFor((lines) => lines.some((l) => l.startsWith('armed ')), 'the timer to be armed');
    child.proc.kill('SIGKILL');
    await child.closed;

    const [timer] = await sql<{ actor_id: string; due: boolean }[]>`select actor_id, due_at <= now() as due from actor_timers`;
    expect(timer).toEqual({ actor_id: 'sleeper', due: false });
    expect((await loadSnapshot(sql, 'counter', 'sleeper'))?.state).toBe('waiting');

    // Dead until the timer is due.
    await until('the timer to fall due', async () => {
      const [r] = await sql<{ due: boolean }[]>`select bool_and(due_at <= now()) as due from actor_timers`;
      return r?.due === true;
    });

    const first = await runToEnd('run', env);
    expect(first).toContain('state sleeper rang 2 1');
    expect(first).toContain('state cancelled idle 2 0');
    const journal = await journalFor(sql, 'counter', 'sleeper');
    expect(byType(journal, RING)).toHaveLength(1);
    expect(byType(await journalFor(sql, 'counter', 'cancelled'), RING)).toHaveLength(0);
    expect(await sql`select * from actor_timers`).toHaveLength(0);

    // Another restart: nothing left to fire.
    const second = await runToEnd('run', env);
    expect(second).toContain('state sleeper rang 2 1');
    expect(second).toContain('state cancelled idle 2 0');
    expect(byType(await journalFor(sql, 'counter', 'sleeper'), RING)).toHaveLength(1);
    expect(await journalFor(sql, 'counter', 'sleeper')).toHaveLength(journal.length);
    const jobs = await sql<{ state: string }[]>`select state::text from pgboss.job where name = 'actor.timer' order by created_on`;
    expect(jobs.map((j) => j.state)).toEqual(['completed', 'completed']);
  });

  it('runs effects exactly once and in order per actor, through a failure, a timeout and a kill -9', { timeout: 90_000 }, async () => {
    const { sql, url } = await testSql();
    const EFFECTS = 12;
    const env = { DATABASE_URL: url, EFFECTS: String(EFFECTS) };
    const child = startChild('effects', env);
    await child.waitFor((lines) => lines.includes('sent fx2 6'), 'half the events committed');
    child.proc.kill('SIGKILL');
    await child.closed;
    const sent = child.lines.filter((l) => l.startsWith('sent ')).length;
    expect(sent).toBeGreaterThanOrEqual(12);
    // Something was still to do when the process died.
    const [left] = await sql<{ n: number }[]>`select count(*)::int as n from actor_outbox where done_at is null`;
    expect(left!.n).toBeGreaterThan(0);

    const drained = await runToEnd('drain', env);
    expect(drained).toContain('drained');
    for (const actor of ['fx1', 'fx2']) {
      const committed = (await sql<{ n: number }[]>`
        select (effect->'params'->>'n')::int as n from actor_outbox where actor_id = ${actor} order by seq, position`).map((r) => r.n);
      expect(committed.length).toBeGreaterThanOrEqual(6);
      // Each committed effect's work was done once, in commit order.
      const runs = await sql<{ n: number; effect_id: string }[]>`select n, effect_id from fx_runs where actor_id = ${actor} order by id`;
      expect(runs.map((r) => r.n)).toEqual(committed);
      // The failing and hanging ones were run again under the same id.
      const calls = await sql<{ n: number; runs: number; ids: number }[]>`
        select n, count(*)::int as runs, count(distinct effect_id)::int as ids from fx_calls where actor_id = ${actor} group by n order by n`;
      for (const c of calls) {
        expect(c.ids).toBe(1);
        if (c.n % 4 === 1 || c.n % 4 === 2) expect(c.runs).toBeGreaterThanOrEqual(2);
      }
    }
  });

  it.each(['before-write', 'in-transaction', 'after-commit'])(
    'keeps a domain write and its snapshot together when killed %s',
    { timeout: 60_000 },
    async (killAt) => {
      const { sql, url } = await testSql();
      const child = startChild('atomic', { DATABASE_URL: url, KILL_AT: killAt });
      const { signal } = await child.closed;
      expect(signal).toBe('SIGKILL');
      expect(child.lines.some((l) => l.startsWith('ready '))).toBe(true);
      const notes = await sql<{ seq: string }[]>`select seq from notes where actor_id = 'atom'`;
      const journal = await journalFor(sql, 'noter', 'atom');
      const row = await loadSnapshot(sql, 'noter', 'atom');
      const noted = byType(journal, 'note.add');
      if (killAt === 'after-commit') {
        expect(notes).toHaveLength(1);
        expect(noted).toHaveLength(1);
        expect(Number(notes[0]!.seq)).toBe(noted[0]!.seq);
        expect((row!.snapshot as { context: { notes: number } }).context.notes).toBe(1);
      } else {
        expect(notes).toHaveLength(0);
        expect(noted).toHaveLength(0);
        expect((row!.snapshot as { context: { notes: number } }).context.notes).toBe(0);
      }
      expect(row?.seq).toBe(journal.at(-1)!.seq);
    },
  );
});
