/**
 * Runs the effects events committed: after the commit, in commit order per actor, one at a time per
 * actor, each marked done before the next starts (by an update of its own, or in the transaction of
 * the event its run sent back: `send(..., { completes: effectId })`, one commit fewer between an
 * effect and the next). A failed run holds back the later effects of its
 * actor (and no other actor's) until a backoff passes; a spent budget dead-letters it, which holds
 * them back until an admin retries it. Nothing is dropped: what this process has not finished is in
 * `actor_outbox`, and the sweep picks it up (also after a crash, where the effect that was running
 * runs again under the same id: handlers use that id as their idempotency key).
 *
 * Why our own outbox and not pg-boss jobs: pg-boss can enqueue in the batch transaction and has
 * retries, backoff and dead letters, but not "the next job of this key waits while an earlier one
 * of the same key is retrying or dead"; its `singleton` policy only keeps two from being active at
 * once, so a retrying job would be overtaken. Per-actor order is the guarantee a WhatsApp send needs.
 *
 * @example
 * const runner = new EffectRunner({ sql, log, handler, timeoutMs: 30_000, attempts: 5, retryBaseMs: 1000 });
 * runner.push(committedRows);
 */
import {
  actorsWithDueEffects,
  markEffectFailed,
  markEffectsDone,
  pendingEffectsOf,
} from '../db/actor-effects.ts';
import type { OutboxRow } from '../db/actors.ts';
import type { Sql } from '../db/client.ts';
import type { Logger } from '../log.ts';
import type { EffectSpec } from './types.ts';

interface ActorEffects {
  type: string;
  id: string;
  queue: OutboxRow[];
  ids: Set<string>;
  running: boolean;
  /** Whether `queue` is known to start at the actor's oldest unfinished effect. */
  known: boolean;
  /** Effects were pushed while the table was being read: read it again before stopping. */
  recheck: boolean;
}

export interface EffectRunnerOptions {
  sql: Sql;
  log: Logger;
  handler(actorType: string, effect: string): EffectSpec | undefined;
  /** The actor types this process runs: only their effects are its to sweep. */
  types(): string[];
  /** Whether the actor lives here (several instances): only its home runs its effects. */
  mine?(type: string, id: string): boolean;
  /** Fences a run just before it starts: false when this instance may no longer run it. */
  claim?(row: OutboxRow): Promise<boolean>;
  timeoutMs: number;
  attempts: number;
  retryBaseMs: number;
  onDead?(row: OutboxRow, error: string): void;
}

export class EffectRunner {
  readonly #o: EffectRunnerOptions;
  readonly #actors = new Map<string, ActorEffects>();
  readonly #drains = new Set<Promise<void>>();
  #sweeping = false;
  #stopped = false;
  readonly #done: DoneMarks;
  /** Ids of the runs in progress; a run's id moves to #markedByCommit when its event committed it done. */
  readonly #inRun = new Set<string>();
  readonly #markedByCommit = new Set<string>();
  stats = { done: 0, failed: 0, dead: 0, doneWithEvent: 0 };

  constructor(opts: EffectRunnerOptions) {
    this.#o = opts;
    this.#done = new DoneMarks(opts.sql);
  }

  /** Effects just committed for one actor, in order. */
  push(rows: OutboxRow[]): void {
    if (rows.length === 0 || this.#stopped) return;
    const key = `${rows[0]!.actor_type}/${rows[0]!.actor_id}`;
    let a = this.#actors.get(key);
    if (!a) {
      // Unknown: older effects of this actor may wait in the table (a restart, a failure), so the
      // drain reads them first rather than running these ahead of them.
      a = { type: rows[0]!.actor_type, id: rows[0]!.actor_id, queue: [], ids: new Set(), running: false, known: false, recheck: false };
      this.#actors.set(key, a);
    } else if (a.known) {
      for (const r of rows) {
        if (a.ids.has(r.id)) continue;
        a.ids.add(r.id);
        a.queue.push(r);
      }
    } else {
      a.recheck = true;
    }
    if (!a.running) this.#drain(key, a);
  }

  /** Drains every actor whose oldest unfinished effect is due (after a crash, a backoff, a retry). */
  async sweep(): Promise<void> {
    if (this.#stopped || this.#sweeping) return;
    this.#sweeping = true;
    try {
      for (const h of await actorsWithDueEffects(this.#o.sql, this.#o.types(), 500)) {
        if (this.#o.mine && !this.#o.mine(h.actor_type, h.actor_id)) continue;
        this.wake(h.actor_type, h.actor_id);
      }
    } catch (err) {
      this.#o.log.warn({ err }, 'effect sweep failed');
    } finally {
      this.#sweeping = false;
    }
  }

  /**
   * Effects marked done by a committed event (the event their run sent back, `completes`): their
   * runs end without a done mark of their own.
   */
  doneByCommit(ids: readonly string[]): void {
    for (const id of ids) if (this.#inRun.has(id)) this.#markedByCommit.add(id);
  }

  /** Re-reads one actor's effects from the table and runs what is due (an admin retry). */
  wake(type: string, id: string): void {
    if (this.#stopped) return;
    const key = `${type}/${id}`;
    const a = this.#actors.get(key) ?? { type, id, queue: [], ids: new Set<string>(), running: false, known: false, recheck: false };
    this.#actors.set(key, a);
    if (a.running) return;
    a.known = false;
    this.#drain(key, a);
  }

  /** The actor left memory: forget what was known about its effects. */
  forget(type: string, id: string): void {
    const a = this.#actors.get(`${type}/${id}`);
    if (a && !a.running) this.#actors.delete(`${type}/${id}`);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#drains]);
  }

  #drain(key: string, a: ActorEffects): void {
    a.running = true;
    const run = this.#run(a)
      .catch((err) => {
        // The database failed us (loading or marking done): forget, the sweep will come back.
        this.#o.log.warn({ err, actor: key }, 'effects paused');
        a.queue = [];
        a.ids.clear();
        a.known = false;
      })
      .finally(() => {
        a.running = false;
        this.#drains.delete(run);
        if (a.queue.length === 0 && !a.known) this.#actors.delete(key);
      });
    this.#drains.add(run);
  }

  async #run(a: ActorEffects): Promise<void> {
    for (;;) {
      if (this.#stopped) return;
      if (!a.known) {
        a.recheck = false;
        const rows = await pendingEffectsOf(this.#o.sql, a.type, a.id);
        a.known = true;
        a.queue = [];
        a.ids.clear();
        const head = rows[0];
        // A dead head, or one waiting out its backoff, holds back the rest: leave them in the table.
        if (!head || head.dead || !head.due) {
          a.known = false;
          return;
        }
        for (const r of rows) {
          a.ids.add(r.id);
          a.queue.push(r);
        }
      }
      const row = a.queue[0];
      if (!row) {
        if (!a.recheck) return;
        a.known = false;
        continue;
      }
      const ok = await this.#runOne(row);
      if (ok === 'away') {
        // The actor's home moved: its new owner runs the rest (from the table).
        a.queue = [];
        a.ids.clear();
        a.known = false;
        return;
      }
      if (!ok) {
        a.queue = [];
        a.ids.clear();
        a.known = false;
        return;
      }
      a.queue.shift();
      a.ids.delete(row.id);
    }
  }

  /** One run with its timeout; true when done, 'away' when it is no longer this instance's to run. */
  async #runOne(row: OutboxRow): Promise<boolean | 'away'> {
    if (this.#o.claim && !(await this.#o.claim(row))) return 'away';
    const spec = this.#o.handler(row.actor_type, row.effect.type);
    const timeoutMs = spec?.timeoutMs ?? this.#o.timeoutMs;
    const attempts = spec?.attempts ?? this.#o.attempts;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#inRun.add(row.id);
    try {
      if (!spec) throw new Error(`no handler for effect ${row.effect.type}`);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          abort.abort();
          reject(new Error(`effect ${row.effect.type} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
      });
      await Promise.race([
        Promise.resolve().then(() =>
          spec.run(row.effect.params, {
            effectId: row.id,
            actorType: row.actor_type,
            actorId: row.actor_id,
            seq: row.seq,
            attempt: (row.attempts ?? 0) + 1,
            signal: abort.signal,
          }),
        ),
        timeout,
      ]);
    } catch (err) {
      // The event it sent back was committed, marking it done there: it is done, whatever came after.
      if (this.#markedByCommit.delete(row.id)) {
        this.stats.done++;
        this.stats.doneWithEvent++;
        return true;
      }
      // Deposed while it ran: not a failure of the effect; its new owner runs it again by its id.
      if (this.#o.mine && !this.#o.mine(row.actor_type, row.actor_id)) return 'away';
      const message = (err as Error)?.message ?? String(err);
      this.stats.failed++;
      const dead = await markEffectFailed(this.#o.sql, row.id, message, attempts, this.#o.retryBaseMs);
      if (dead) {
        this.stats.dead++;
        this.#o.log.error({ effect: row.effect.type, id: row.id, actor: `${row.actor_type}/${row.actor_id}`, err: message }, 'effect dead-lettered');
        this.#o.onDead?.(row, message);
      } else {
        this.#o.log.warn({ effect: row.effect.type, id: row.id, err: message }, 'effect failed; will retry');
      }
      return false;
    } finally {
      clearTimeout(timer);
      this.#inRun.delete(row.id);
    }
    this.stats.done++;
    if (this.#markedByCommit.delete(row.id)) {
      this.stats.doneWithEvent++;
      return true;
    }
    await this.#done.mark(row.id);
    return true;
  }
}

/**
 * Marking effects done, grouped: the runs that finish while an update is in flight share the next
 * one (one statement and one commit for them all, instead of one each: under load, a commit per
 * effect was most of the database's work). Each caller still waits for its own mark to commit
 * before its actor's next effect starts.
 */
class DoneMarks {
  #queue: { id: string; resolve(): void; reject(err: unknown): void }[] = [];
  #inFlight = 0;

  constructor(private readonly sql: Sql) {}

  mark(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ id, resolve, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#inFlight >= DONE_MARKS_IN_FLIGHT || this.#queue.length === 0) return;
    const batch = this.#queue.splice(0, DONE_MARKS_BATCH);
    this.#inFlight++;
    markEffectsDone(
      this.sql,
      batch.map((b) => b.id),
    )
      .then(
        () => batch.forEach((b) => b.resolve()),
        (err: unknown) => batch.forEach((b) => b.reject(err)),
      )
      .finally(() => {
        this.#inFlight--;
        this.#next();
      });
  }
}

/** Updates of done marks in flight at once; the rest wait and go together in the next. */
const DONE_MARKS_IN_FLIGHT = 2;
const DONE_MARKS_BATCH = 1000;
