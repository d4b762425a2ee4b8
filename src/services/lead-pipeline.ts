/**
 * The lead pipeline: intake → classify → assign → notify, each step idempotent and resumable.
 *
 * Durability: intake commits the lead, its `created` interaction and a pg-boss job in one
 * transaction. The job is the safety net (it starts after a grace period); the fast path runs the
 * same steps in-process right after the commit. A step finds its own work from the lead's row
 * (unclassified; classified but unassigned), so a crash between any two steps is resumed by the
 * job or the periodic reconcile, and a retried step does nothing twice: classification applies
 * only to unclassified leads, assignment only to unassigned ones under an advisory lock, and the
 * notification row is deduplicated per lead.
 *
 * @example
 * const pipeline = new LeadPipeline(deps);
 * await pipeline.start();
 * const { id } = await pipeline.intake(lead);
 */
import { randomUUID } from 'node:crypto';
import { assignInOrder } from '../domain/assignment.ts';
import type { Sql } from '../db/client.ts';
import { DatabaseUnavailableError, isAmbiguousOutcome } from '../db/faults.ts';
import { txDb, type PgBoss } from '../db/jobs.ts';
import {
  applyClassifications,
  assignmentCandidates,
  findDuplicateLead,
  findLeads,
  insertLead,
  insertLeads,
  leadExists,
  leadsNeedingClassification,
  lockAssignment,
  waitingLeads,
  writeAssignments,
  type LeadRow,
  type NewLead,
} from '../db/leads.ts';
import type { NotificationRow } from '../db/notifications.ts';
import type { Logger } from '../log.ts';
import type { LeadClassifier } from './lead-classifier.ts';

export const PIPELINE_QUEUE = 'lead.pipeline';

/** The safety-net job of one intake transaction: the leads it stored. */
interface PipelineJob {
  leadIds: string[];
}

/** Thrown inside intake's transaction to roll back the job sent alongside a duplicate's insert. */
const DUPLICATE = Symbol('duplicate lead');

/** The job waits this long, so the in-process fast path normally does the work first. */
const SAFETY_NET_DELAY_SECONDS = 15;
const BATCH = 200;
/**
 * Consultants' workload changes are reported at most this often (trailing): under load an
 * assignment runs every few milliseconds, and each report resyncs every touched consultant's actor.
 */
const WORKLOAD_SYNC_MS = 100;
/** Intake transactions in flight at once; webhooks that arrive meanwhile share the next one. */
const INTAKE_TX = 2;
const INTAKE_BATCH = 500;

type IntakeResult = { id: string; status: string; duplicate: boolean };
interface QueuedIntake {
  lead: NewLead;
  id: string;
  resolve(r: IntakeResult): void;
  reject(err: unknown): void;
}

export interface PipelineEvents {
  leadCreated(lead: LeadRow): void;
  leadUpdated(lead: LeadRow): void;
  notification(n: NotificationRow): void;
  /** Consultants whose workload changed (their actors resync). */
  workloadChanged(consultantIds: string[]): void;
}

export interface PipelineDeps {
  /** The request pool: intake runs on it. */
  sql: Sql;
  /**
   * A pool of its own for classification and assignment, so a burst of intake transactions that
   * fills the request pool cannot starve the steps that drain it.
   */
  workSql?: Sql;
  boss: PgBoss;
  log: Logger;
  classify: LeadClassifier;
  requiresPresence: boolean;
  isOnline(consultantId: string): boolean;
  events: PipelineEvents;
  reconcileMs?: number;
  /** Concurrent classifications in flight (LLM calls are slow; rules are instant). */
  classifyConcurrency?: number;
  /** Told how long each step took (seconds), for the pipeline_step_duration_seconds histogram. */
  observeStep?(step: 'classify' | 'assign', seconds: number): void;
  /** Intakes queued or in flight at most; past it intake refuses at once (503), not in memory. */
  maxPendingIntakes?: number;
  /** How long an intake may wait in the queue before it is withdrawn and refused (503). */
  intakeQueueWaitMs?: number;
}

export class LeadPipeline {
  readonly #d: PipelineDeps;
  readonly #log: Logger;
  #pending = new Set<string>();
  #classifying = new Set<string>();
  #draining: Promise<void> | undefined;
  #assigning: Promise<void> | undefined;
  #assignAgain = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;
  #intakes: QueuedIntake[] = [];
  #intakeTx = 0;
  /** Intakes in transactions not yet settled (with #intakes: what INTAKE_MAX_PENDING bounds). */
  #intakesInFlight = 0;
  #intakeScheduled = false;
  #workloadDirty = new Set<string>();
  #workloadTimer: ReturnType<typeof setTimeout> | undefined;

  get #work(): Sql {
    return this.#d.workSql ?? this.#d.sql;
  }

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ component: 'pipeline' });
  }

  async start(): Promise<void> {
    const { boss } = this.#d;
    await boss.createQueue(PIPELINE_QUEUE, { name: PIPELINE_QUEUE, policy: 'standard', retryLimit: 10, retryDelay: 5, retryBackoff: true });
    await boss.work<PipelineJob>(PIPELINE_QUEUE, { batchSize: 20, pollingIntervalSeconds: 2 }, async (jobs) => {
      await this.process(jobs.flatMap((j) => j.data.leadIds));
    });
    this.#timer = setInterval(() => void this.reconcile(), this.#d.reconcileMs ?? 5000);
    this.#timer.unref?.();
    // Leftovers from before a restart are picked up in the background, not before serving.
    void this.reconcile();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#d.boss.offWork(PIPELINE_QUEUE).catch(() => {});
    await this.#draining;
    await this.#assigning;
    this.#flushWorkload();
  }

  /**
   * Stores a lead from a webhook. Returns `duplicate: true` with the first lead's id when the
   * idempotency key or (source, external_id) was seen before; nothing is created then.
   */
  async intake(lead: NewLead): Promise<IntakeResult> {
    // Group commit: the webhooks that arrive together share one transaction (one multi-row insert
    // of leads and interactions, one safety-net job for them all, one commit); each is answered
    // only after that commit.
    if (this.#intakes.length + this.#intakesInFlight >= (this.#d.maxPendingIntakes ?? Infinity)) {
      throw new DatabaseUnavailableError('overloaded', 'too many leads waiting to be stored');
    }
    // The id is made here, once per request, and stored as the lead's own id: after a commit
    // whose answer was lost, finding this id tells "our insert went through" from "a duplicate".
    const result = await new Promise<IntakeResult>((resolve, reject) => {
      const queued: QueuedIntake = { lead, id: randomUUID(), resolve, reject };
      const wait = this.#d.intakeQueueWaitMs;
      if (wait !== undefined) {
        // Not yet sent to the database: withdraw it, so a request answered 503 stores nothing.
        const timer = setTimeout(() => {
          const at = this.#intakes.indexOf(queued);
          if (at < 0) return;
          this.#intakes.splice(at, 1);
          reject(new DatabaseUnavailableError('timeout', 'the lead could not be stored in time'));
        }, wait);
        timer.unref?.();
        queued.resolve = (r) => (clearTimeout(timer), resolve(r));
        queued.reject = (e) => (clearTimeout(timer), reject(e));
      }
      this.#intakes.push(queued);
      this.#scheduleIntake();
    });
    if (!result.duplicate) {
      this.#kick(result.id);
      const now = new Date();
      this.#d.events.leadCreated({
        id: result.id,
        name: lead.name,
        phone: lead.phone,
        email: lead.email,
        source: lead.source,
        external_id: lead.externalId,
        message: lead.message,
        requested_amount: lead.requestedAmount === null ? null : String(lead.requestedAmount),
        monthly_income: lead.monthlyIncome === null ? null : String(lead.monthlyIncome),
        status: 'NEW',
        ai_score: null,
        ai_temperature: null,
        ai_classifier: null,
        ai_reasons: null,
        ai_classified_at: null,
        consultant_id: null,
        consultant_name: null,
        assigned_at: null,
        metadata: lead.metadata,
        version: 1,
        created_at: now,
        updated_at: now,
        closed_at: null,
      });
    }
    return result;
  }

  #scheduleIntake(): void {
    if (this.#intakeScheduled || this.#intakeTx >= INTAKE_TX || this.#intakes.length === 0) return;
    this.#intakeScheduled = true;
    setImmediate(() => {
      this.#intakeScheduled = false;
      void this.#flushIntakes();
    });
  }

  async #flushIntakes(): Promise<void> {
    const batch = this.#intakes.splice(0, INTAKE_BATCH);
    if (batch.length === 0) return;
    this.#intakeTx++;
    this.#intakesInFlight += batch.length;
    try {
      const inserted = await this.#d.sql.begin(async (tx) => {
        const ids = await insertLeads(tx, batch.map((b) => ({ ...b.lead, id: b.id })));
        // One job for the batch: the safety net for every lead in it, written in the same commit.
        if (ids.size > 0) await this.#d.boss.send(PIPELINE_QUEUE, { leadIds: [...ids] } satisfies PipelineJob, { db: txDb(tx), startAfter: SAFETY_NET_DELAY_SECONDS });
        return ids;
      });
      this.#intakesInFlight -= batch.length;
      for (const b of batch) {
        if (inserted.has(b.id)) b.resolve({ id: b.id, status: 'NEW', duplicate: false });
        else this.#duplicateOf(b.lead, b.id).then(b.resolve, b.reject);
      }
    } catch (err) {
      // One bad lead must not fail the others: each goes again on its own. A lost connection
      // leaves the commit's outcome unknown: going again finds the leads that did commit by id.
      if (batch.length === 1 && !isAmbiguousOutcome(err)) {
        this.#intakesInFlight -= 1;
        batch[0]!.reject(err);
      } else {
        const retries = batch.map((b) => this.#retryIntake(b.lead, b.id, err).then(b.resolve, b.reject));
        void Promise.allSettled(retries).then(() => (this.#intakesInFlight -= batch.length));
      }
    } finally {
      this.#intakeTx--;
      this.#scheduleIntake();
    }
  }

  /** After a failed batch: once more alone, and (connection lost) again after a short pause. */
  async #retryIntake(lead: NewLead, id: string, first: unknown): Promise<IntakeResult> {
    let err = first;
    for (const pauseMs of [0, 250, 1000]) {
      if (!isAmbiguousOutcome(err) && pauseMs > 0) break;
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      try {
        return await this.#intakeOne(lead, id);
      } catch (e) {
        err = e;
      }
    }
    throw err;
  }

  async #duplicateOf(lead: NewLead, ownId: string): Promise<IntakeResult> {
    // Our own id already stored: the first commit went through and only its answer was lost.
    // That is this request's lead (202), not a sender sending twice.
    if (await leadExists(this.#d.sql, ownId)) return { id: ownId, status: 'NEW', duplicate: false };
    const first = await findDuplicateLead(this.#d.sql, { idempotencyKey: lead.idempotencyKey, source: lead.source, externalId: lead.externalId });
    if (!first) throw new Error('lead insert conflicted but no duplicate was found');
    return { id: first, status: 'NEW', duplicate: true };
  }

  /** One lead in a transaction of its own (the fallback when a batch fails). */
  async #intakeOne(lead: NewLead, id: string): Promise<IntakeResult> {
    return this.#d.sql
      .begin(async (tx) => {
        const [created] = await Promise.all([
          insertLead(tx, lead, id),
          this.#d.boss.send(PIPELINE_QUEUE, { leadIds: [id] } satisfies PipelineJob, { db: txDb(tx), startAfter: SAFETY_NET_DELAY_SECONDS }),
        ]);
        if (!created) throw DUPLICATE;
        return { id: created.id, status: created.status, duplicate: false };
      })
      .catch(async (err: unknown) => {
        if (err !== DUPLICATE) throw err;
        return this.#duplicateOf(lead, id);
      });
  }

  /** Something changed who can take leads (activation, capacity, presence): assign the waiting. */
  requestAssignment(): Promise<void> {
    if (this.#assigning) {
      this.#assignAgain = true;
      return this.#assigning;
    }
    this.#assigning = (async () => {
      try {
        do {
          this.#assignAgain = false;
          const started = performance.now();
          await this.#assignWaiting();
          this.#d.observeStep?.('assign', (performance.now() - started) / 1000);
        } while (this.#assignAgain && !this.#stopped);
      } catch (err) {
        this.#log.error({ err }, 'assignment failed; the reconcile will retry');
      } finally {
        this.#assigning = undefined;
      }
    })();
    return this.#assigning;
  }

  /** Picks up anything a crash left behind: unclassified leads, then waiting ones. */
  async reconcile(): Promise<void> {
    if (this.#stopped) return;
    try {
      const ids = await leadsNeedingClassification(this.#work, 1000);
      if (ids.length > 0) await this.process(ids);
      else await this.requestAssignment();
    } catch (err) {
      this.#log.error({ err }, 'reconcile failed');
    }
  }

  /** Classifies the given leads (those not yet classified) and then assigns waiting leads. */
  async process(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += BATCH) await this.#classify(ids.slice(i, i + BATCH));
    await this.requestAssignment();
  }

  #kick(id: string): void {
    this.#pending.add(id);
    if (this.#draining) return;
    this.#draining = (async () => {
      // Let a burst of webhooks queue up, then work through it in batches.
      await new Promise((r) => setImmediate(r));
      while (this.#pending.size > 0 && !this.#stopped) {
        const batch = [...this.#pending].slice(0, BATCH);
        for (const id of batch) this.#pending.delete(id);
        try {
          // Assignment runs alongside the next batch's classification rather than before it;
          // requestAssignment coalesces the requests, and stop() waits for both.
          await this.#classify(batch);
          void this.requestAssignment();
        } catch (err) {
          this.#log.error({ err }, 'fast path failed; the job will retry');
        }
      }
      this.#draining = undefined;
    })();
  }

  /**
   * Classifies each lead once per process at a time: the fast path, the safety-net job and the
   * reconcile may all reach the same lead, and an LLM call is too slow and costly to make twice.
   */
  async #classify(ids: string[]): Promise<void> {
    const mine = ids.filter((id) => !this.#classifying.has(id));
    for (const id of mine) this.#classifying.add(id);
    const started = performance.now();
    try {
      await this.#classifyOnce(mine);
    } finally {
      for (const id of mine) this.#classifying.delete(id);
      if (mine.length > 0) this.#d.observeStep?.('classify', (performance.now() - started) / 1000);
    }
  }

  async #classifyOnce(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const leads = (await findLeads(this.#work, ids)).filter((l) => !l.ai_classified_at);
    if (leads.length === 0) return;
    const limit = this.#d.classifyConcurrency ?? 8;
    const results: Awaited<ReturnType<LeadClassifier>>[] = new Array(leads.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(limit, leads.length) }, async () => {
        while (next < leads.length) {
          const i = next++;
          const l = leads[i]!;
          results[i] = await this.#d.classify({
            name: l.name,
            requestedAmount: l.requested_amount === null ? null : Number(l.requested_amount),
            monthlyIncome: l.monthly_income === null ? null : Number(l.monthly_income),
            source: l.source,
            message: l.message,
            hasPhone: !!l.phone,
            hasEmail: !!l.email,
          });
        }
      }),
    );
    // One statement: the leads and their `classified` interactions, atomically.
    const changed = await applyClassifications(
      this.#work,
      leads.map((l, i) => ({
        id: l.id,
        score: results[i]!.score,
        temperature: results[i]!.temperature,
        classifier: results[i]!.classifier,
        reasons: { reasons: results[i]!.reasons, note: results[i]!.note },
      })),
    );
    const changedSet = new Set(changed);
    leads.forEach((l, i) => {
      if (!changedSet.has(l.id)) return;
      const r = results[i]!;
      this.#d.events.leadUpdated({
        ...l,
        ai_score: r.score,
        ai_temperature: r.temperature,
        ai_classifier: r.classifier,
        ai_reasons: { reasons: r.reasons, note: r.note },
        ai_classified_at: new Date(),
        version: l.version + 1,
      });
    });
  }

  async #assignWaiting(): Promise<void> {
    const { requiresPresence, isOnline } = this.#d;
    const sql = this.#work;
    for (;;) {
      const assigned = await sql.begin(async (tx) => {
        // Pipelined, one round trip: PostgreSQL runs them in order, so both reads happen under the lock.
        const [, waiting, candidateRows] = await Promise.all([lockAssignment(tx), waitingLeads(tx, 500), assignmentCandidates(tx)]);
        if (waiting.length === 0) return { rows: [], exhausted: true };
        const candidates = candidateRows.map((c) => ({
          id: c.id,
          active: c.active,
          openLeads: c.open_leads,
          maxOpenLeads: c.max_open_leads,
          lastAssignedAt: c.last_assigned_at,
          rotation: c.created_at.getTime(),
          online: isOnline(c.id),
        }));
        const names = new Map(waiting.map((w) => [w.id, w.name]));
        const plan = assignInOrder(
          waiting.map((w) => w.id),
          candidates,
          { requiresPresence, now: new Date() },
        );
        const rows = await writeAssignments(tx, plan.map((p) => ({ ...p, leadName: names.get(p.leadId) ?? '' })));
        return { rows, exhausted: plan.length < waiting.length || waiting.length < 500 };
      });
      if (assigned.rows.length > 0) await this.#announce(assigned.rows);
      if (assigned.exhausted || assigned.rows.length === 0) return;
    }
  }

  async #announce(rows: { leadId: string; consultantId: string; notification: NotificationRow | undefined }[]): Promise<void> {
    const leads = await findLeads(this.#work, rows.map((r) => r.leadId));
    for (const r of rows) if (r.notification) this.#d.events.notification(r.notification);
    for (const l of leads) this.#d.events.leadUpdated(l);
    for (const r of rows) this.#workloadDirty.add(r.consultantId);
    this.#workloadTimer ??= setTimeout(() => this.#flushWorkload(), WORKLOAD_SYNC_MS);
  }

  #flushWorkload(): void {
    if (this.#workloadTimer) clearTimeout(this.#workloadTimer);
    this.#workloadTimer = undefined;
    if (this.#workloadDirty.size === 0) return;
    const ids = [...this.#workloadDirty];
    this.#workloadDirty.clear();
    this.#d.events.workloadChanged(ids);
  }
}
