/**
 * The lead pipeline: intake → classify → assign → notify, each step idempotent and resumable.
 * With the rule-based classifier (instant and pure), intake classifies before storing and, with
 * no presence rule, assigns in the same statement when it can do so without waiting (see
 * `insertLeads`), so the lead is written once, already classified and assigned; what it could not
 * assign goes through the assignment round.
 *
 * Durability: intake commits the lead, its `created` interaction (and `classified`, see above),
 * its webhook signature and a pg-boss job in one transaction. The job is the safety net (it starts
 * after a grace period); the fast path runs the same steps in-process right after the commit. A
 * step finds its own work from the lead's row (unclassified; classified but unassigned), so a
 * crash between any two steps is resumed by the job or the periodic reconcile, and a retried step
 * does nothing twice: classification applies only to unclassified leads, assignment only to NEW
 * unassigned ones under an advisory lock, and the notification row is deduplicated per lead.
 *
 * @example
 * const pipeline = new LeadPipeline(deps);
 * await pipeline.start();
 * const { id } = await pipeline.intake(lead);
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from '../db/client.ts';
import { DatabaseUnavailableError, isAmbiguousOutcome, watchdog } from '../db/faults.ts';
import { ensureQueue, JOB_EXPIRE_IN_SECONDS, JOBS_SCHEMA, type PgBoss } from '../db/jobs.ts';
import {
  activeConsultantIds,
  applyClassifications,
  assignWaitingLeads,
  findLeads,
  insertLeads,
  leadExists,
  leadsNeedingClassification,
  purgeWebhookSignatures,
  reconcileOpenLeads,
  resolveDuplicates,
  claimClassification,
  type IntakeAssignment,
  releaseClassification,
  type LeadRow,
  type NewLead,
  type NewLeadRow,
  type WebhookSignature,
} from '../db/leads.ts';
import type { NotificationRow } from '../db/notifications.ts';
import type { Logger } from '../log.ts';
import type { ClassifierResult, LeadClassifier } from './lead-classifier.ts';

export const PIPELINE_QUEUE = 'lead.pipeline';

/** The safety-net job of one intake transaction: the leads it stored. */
interface PipelineJob {
  leadIds: string[];
}

/** The job waits this long, so the in-process fast path normally does the work first. */
const SAFETY_NET_DELAY_SECONDS = 15;
const BATCH = 200;
/** Leads assigned per round at most (one statement); a full round is followed by another. */
const ASSIGN_BATCH = 500;
/**
 * Consultants' workload changes are reported at most this often (trailing): under load an
 * assignment runs every few milliseconds, and each report resyncs every touched consultant's actor.
 */
const WORKLOAD_SYNC_MS = 1000;
/**
 * Intake transactions in flight at once; webhooks that arrive meanwhile share the next one. More
 * would take 202s faster than the one assignment stream can follow (measured at 64 in flight:
 * with 4, the 202 → assigned delay grew while leads/s end to end did not). An intake that assigns
 * in its own statement holds the assignment lock, so a second one would only wait on it: one then
 * (measured at 16 in flight: 960 and 960 leads/s with one, 862 and 784 with two).
 */
const INTAKE_TX = 2;
const INTAKE_TX_ASSIGNING = 1;
/**
 * Intake statements in flight on the one intake connection (`intakeSql`): PostgreSQL runs them one
 * after the other, so the second waits on no lock, and the connection is never idle while the
 * main thread answers the last batch. Measured at 16 in flight, alternating with one statement on
 * the request pool: 950 leads/s on average over 11 runs against 851, 202 → assigned p99 16 ms
 * against 22 ms; two statements on two connections of the request pool would contend for the
 * assignment lock instead (862 and 784 leads/s, above).
 */
const INTAKE_TX_PIPELINED = 2;
/**
 * When fewer intakes wait than the last transaction took, the next one waits up to this long for
 * the rest: the senders just answered are on their way back, and a transaction of one lead costs
 * the database nearly what one of fifteen does (measured at 16 in flight: 1,066 and 1,070 leads/s
 * with 2 ms, 896 and 685 without; commits per lead 0.19 against 0.25).
 */
const GATHER_MS = 2;
const INTAKE_BATCH = 500;
/**
 * A webhook signature is remembered for as long as its timestamp passes the freshness check
 * (300 s either way of our clock), plus a minute of slack for clock steps.
 */
export const SIGNATURE_TTL_SECONDS = 300 + 60;
/** `open_leads` is recounted from the leads this often (and at once when a consultant changes). */
const OPEN_LEADS_RECONCILE_MS = 60_000;
/** How long stop() waits for a pipeline step still running before the pools close under it. */
const STOP_WAIT_MS = 5_000;

type IntakeResult = { id: string; status: string; duplicate: boolean; assignment?: IntakeAssignment | undefined };
interface QueuedIntake {
  lead: NewLead;
  signature: WebhookSignature | null;
  classification: ClassifierResult | null;
  id: string;
  /** `performance.now()` after which no attempt to store it starts (see `intakeDeadlineMs`). */
  deadline: number;
  resolve(r: IntakeResult): void;
  reject(err: unknown): void;
}

export interface PipelineEvents {
  leadCreated(lead: LeadRow): void;
  leadUpdated(lead: LeadRow): void;
  /** The lead was reassigned away from `consultantId`, who no longer sees it (their board drops it). */
  leadRemoved?(leadId: string, consultantId: string): void;
  notification(n: NotificationRow): void;
  /** Consultants whose workload changed (their actors resync). */
  workloadChanged(consultantIds: string[]): void;
}

export interface PipelineDeps {
  /** The request pool: intake runs on it when there is no `intakeSql`. */
  sql: Sql;
  /**
   * A pool of its own for classification and assignment, so a burst of intake transactions that
   * fills the request pool cannot starve the steps that drain it.
   */
  workSql?: Sql;
  /**
   * One connection (a pool of one) for the intake statements: the next statement is pipelined
   * behind the one in flight, so the database starts it the moment the last commits, and two never
   * contend for the assignment lock (see INTAKE_TX_PIPELINED).
   */
  intakeSql?: Sql;
  /**
   * With `intakeSql`: a new intake connection in place of one a statement has hung on for
   * `intakeStuckMs` (a driver that lost track of it). The caller destroys the old one, which
   * settles whatever still waits on it.
   */
  renewIntakeSql?(): Sql;
  /** How long an intake statement may go unanswered before its connection is renewed. */
  intakeStuckMs?: number;
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
  /**
   * How long after `intake()` its request is answered at the latest (503 past it): no attempt to
   * store the lead starts later, so a retry of ours never stores a lead whose sender was told 503.
   */
  intakeDeadlineMs?: number;
  /** How often `open_leads` is recounted (default 60 s). */
  openLeadsReconcileMs?: number;
  /** The most stop() waits for in-flight steps (default 5 s). */
  stopWaitMs?: number;
  /** This instance's name: a lead's classification is claimed in the database under it. */
  instanceId?: string;
}

/** How long one instance's claim on a lead's classification holds (an LLM call takes seconds). */
const CLASSIFY_CLAIM_SECONDS = 120;

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
  #gathering: ReturnType<typeof setTimeout> | undefined;
  #lastBatch = 0;
  /** The intake connection in use: `intakeSql`, or the last `renewIntakeSql()` gave. */
  #intakeSql: Sql | undefined;
  /** Stored leads' events, told once the next intake statement is sent (see #tellLater). */
  #untold: Array<() => void> = [];
  #telling = false;
  #workloadDirty = new Set<string>();
  #workloadTimer: ReturnType<typeof setTimeout> | undefined;
  /** When each intake statement now awaiting its answer was sent (`performance.now()`). */
  #statementsSentAt = new Set<{ at: number }>();
  /** Steps running now (jobs, reconciles, intake commits): stop() waits for them. */
  #inflight = new Set<Promise<unknown>>();
  #lastOpenLeadsReconcile = 0;

  /** Whether intake assigns in its own statement: classified at once, and no presence rule. */
  get #assignsAtIntake(): boolean {
    return !!this.#d.classify.instant && !this.#d.requiresPresence;
  }

  get #intakeTxMax(): number {
    if (this.#intakeSql) return INTAKE_TX_PIPELINED;
    return this.#assignsAtIntake ? INTAKE_TX_ASSIGNING : INTAKE_TX;
  }

  get #work(): Sql {
    return this.#d.workSql ?? this.#d.sql;
  }

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    this.#log = deps.log.child({ component: 'pipeline' });
    this.#intakeSql = deps.intakeSql;
  }

  async start(): Promise<void> {
    const { boss } = this.#d;
    await ensureQueue(boss, { name: PIPELINE_QUEUE, policy: 'standard', retryLimit: 10, retryDelay: 5, retryBackoff: true });
    await boss.work<PipelineJob>(PIPELINE_QUEUE, { batchSize: 20, pollingIntervalSeconds: 2 }, (jobs) =>
      this.#track(this.process(jobs.flatMap((j) => j.data.leadIds))),
    );
    this.#timer = setInterval(() => void this.reconcile(), this.#d.reconcileMs ?? 5000);
    this.#timer.unref?.();
    // Leftovers from before a restart are picked up in the background, not before serving.
    void this.reconcile();
  }

  /**
   * Stops taking work and waits, at most `stopWaitMs`, for what is running (a job's steps, the fast
   * path, an assignment, an intake commit), so the pools are not closed under it. What is cut off
   * after the bound is re-run after a restart: the job is retried and the reconcile finds the rest.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#d.boss.offWork(PIPELINE_QUEUE).catch(() => {});
    let bound: ReturnType<typeof setTimeout> | undefined;
    const running = Promise.allSettled([...this.#inflight, this.#draining, this.#assigning]);
    const timedOut = await Promise.race([
      running.then(() => false),
      new Promise<boolean>((resolve) => (bound = setTimeout(() => resolve(true), this.#d.stopWaitMs ?? STOP_WAIT_MS))),
    ]);
    clearTimeout(bound);
    if (timedOut) this.#log.warn('pipeline steps still running at shutdown; the job and the reconcile will finish them');
    this.#flushWorkload();
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const forget = () => this.#inflight.delete(p);
    p.then(forget, forget);
    return p;
  }

  /**
   * A consultant was created or changed (activation, capacity, role): recount their open leads,
   * then let waiting leads through.
   */
  async consultantChanged(consultantId: string): Promise<void> {
    try {
      await this.#track(this.#reconcileOpenLeads([consultantId]));
    } catch (err) {
      this.#log.error({ err }, 'open_leads reconcile failed');
    }
    await this.requestAssignment();
  }

  async #reconcileOpenLeads(ids?: string[]): Promise<void> {
    const drifted = await this.#work.begin((tx) => reconcileOpenLeads(tx, ids));
    if (drifted.length > 0) {
      this.#log.warn({ consultants: drifted }, 'open_leads had drifted from the leads; recounted');
      this.#d.events.workloadChanged(drifted);
    }
  }

  /**
   * Stores a lead from a webhook. Returns `duplicate: true` with the first lead's id when the
   * idempotency key or (source, external_id) was seen before; nothing is created then.
   */
  async intake(input: NewLead, signature: WebhookSignature | null = null): Promise<IntakeResult> {
    // Emails and sources compare case-insensitively (duplicates by (source, external_id) too).
    const lead: NewLead = { ...input, email: input.email?.toLowerCase() ?? null, source: input.source.toLowerCase() };
    // An instant (rule-based) classifier runs here, so the lead is stored classified: one write
    // instead of an insert and an update, and nothing left to do but assign it.
    let classification: ClassifierResult | null = null;
    if (this.#d.classify.instant) {
      const started = performance.now();
      classification = await this.#d.classify(facts(lead));
      this.#d.observeStep?.('classify', (performance.now() - started) / 1000);
    }
    // Group commit: the webhooks that arrive together share one transaction (one multi-row insert
    // of leads and interactions, one safety-net job for them all, one commit); each is answered
    // only after that commit.
    if (this.#intakes.length + this.#intakesInFlight >= (this.#d.maxPendingIntakes ?? Infinity)) {
      throw new DatabaseUnavailableError('overloaded', 'too many leads waiting to be stored');
    }
    // The id is made here, once per request, and stored as the lead's own id: after a commit
    // whose answer was lost, finding this id tells "our insert went through" from "a duplicate".
    const result = await new Promise<IntakeResult>((resolve, reject) => {
      const deadline = performance.now() + (this.#d.intakeDeadlineMs ?? Infinity);
      const queued: QueuedIntake = { lead, signature, classification, id: randomUUID(), deadline, resolve, reject };
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
    if (!result.duplicate) this.#tellLater(() => this.#stored(result, lead, classification));
    return result;
  }

  /**
   * A batch's 202s are written before its leads' events, and the events wait until the next
   * intake statement has been sent (or, when none is coming, the next turn of the event loop): the
   * main thread then encodes and writes them while the database works, instead of before that
   * statement goes out. Measured at 16 in flight: 968 leads/s on average over 28 runs (743–1,144)
   * against 852 over 13 when told at once; the 202 → event p99 grows by about one statement.
   */
  #tellLater(tell: () => void): void {
    this.#untold.push(tell);
    if (!this.#intakeScheduled) this.#tellSoon();
  }

  /** Tells what waits, on the next turn of the event loop. */
  #tellSoon(): void {
    if (this.#telling || this.#untold.length === 0) return;
    this.#telling = true;
    setImmediate(() => {
      this.#telling = false;
      const all = this.#untold;
      this.#untold = [];
      for (const tell of all) tell();
    });
  }

  /** A lead intake stored: the board and the consultant are told, and what is left is started. */
  #stored(result: IntakeResult, lead: NewLead, classification: ClassifierResult | null): void {
    const now = new Date();
    const created: LeadRow = {
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
      ai_score: classification?.score ?? null,
      ai_temperature: classification?.temperature ?? null,
      ai_classifier: classification?.classifier ?? null,
      ai_reasons: classification ? { reasons: classification.reasons, note: classification.note } : null,
      ai_classified_at: classification ? now : null,
      consultant_id: null,
      consultant_name: null,
      assigned_at: null,
      metadata: lead.metadata,
      version: 1,
      created_at: now,
      updated_at: now,
      closed_at: null,
    };
    this.#d.events.leadCreated(created);
    const a = result.assignment;
    if (a) {
      // Assigned in the intake's own statement: told as the separate steps would tell it.
      this.#announce([
        {
          consultantId: a.consultantId,
          lead: { ...created, consultant_id: a.consultantId, consultant_name: a.consultantName, assigned_at: a.assignedAt, version: 2 },
          notification: a.notification,
        },
      ]);
    } else if (classification) void this.requestAssignment();
    else this.#kick(result.id);
  }

  #scheduleIntake(): void {
    if (this.#gathering && this.#intakes.length >= this.#lastBatch) {
      // Everyone from the last batch is back: go now.
      clearTimeout(this.#gathering);
      this.#gathering = undefined;
      this.#intakeScheduled = false;
    }
    if (this.#intakeScheduled || this.#intakeTx >= this.#intakeTxMax || this.#intakes.length === 0) return;
    this.#intakeScheduled = true;
    const go = () => {
      this.#gathering = undefined;
      this.#intakeScheduled = false;
      void this.#flushIntakes();
    };
    if (GATHER_MS > 0 && this.#intakes.length < this.#lastBatch) this.#gathering = setTimeout(go, GATHER_MS);
    else setImmediate(go);
  }

  async #flushIntakes(): Promise<void> {
    const batch = this.#intakes.splice(0, INTAKE_BATCH);
    if (batch.length === 0) {
      this.#tellSoon();
      return;
    }
    this.#lastBatch = batch.length;
    this.#intakeTx++;
    this.#intakesInFlight += batch.length;
    try {
      const committing = this.#track(this.#unlessStuck(this.#commitIntakes(batch)));
      // The statement is on its way: tell the last batch's leads while the database works.
      this.#tellSoon();
      const results = await committing;
      this.#intakesInFlight -= batch.length;
      for (const b of batch) b.resolve(results.get(b.id)!);
    } catch (err) {
      // One bad lead must not fail the others: each goes again on its own. A lost connection
      // leaves the commit's outcome unknown: going again finds the leads that did commit by id.
      if (batch.length === 1 && !isAmbiguousOutcome(err)) {
        this.#intakesInFlight -= 1;
        batch[0]!.reject(err);
      } else {
        const retries = batch.map((b) => this.#retryIntake(b, err).then(b.resolve, b.reject));
        void Promise.allSettled(retries).then(() => (this.#intakesInFlight -= batch.length));
      }
    } finally {
      this.#intakeTx--;
      this.#scheduleIntake();
    }
  }

  /**
   * The statement's outcome, or, when it goes unanswered for `intakeStuckMs`, a lost connection's
   * error (its outcome is then unknown: a retry, if its request still waits, finds the leads that
   * did commit by id) after the intake connection is renewed. A statement that is merely slow ends by the statement
   * timeout well before; one that hangs would otherwise hold the statement pipelined behind it,
   * and every intake after them, for good.
   */
  #unlessStuck<T>(statement: Promise<T>): Promise<T> {
    const sent = { at: performance.now() };
    this.#statementsSentAt.add(sent);
    return this.#watched(statement).finally(() => this.#statementsSentAt.delete(sent));
  }

  /**
   * How long the oldest intake statement now in flight has waited for its answer (0 when none
   * waits): `/ready` reports intake stalled past the statement timeout, which the request pool's
   * own probe cannot see.
   */
  intakeWaitingMs(): number {
    let oldest = Infinity;
    for (const s of this.#statementsSentAt) oldest = Math.min(oldest, s.at);
    return oldest === Infinity ? 0 : performance.now() - oldest;
  }

  #watched<T>(statement: Promise<T>): Promise<T> {
    const { renewIntakeSql, intakeStuckMs } = this.#d;
    if (!this.#intakeSql || !renewIntakeSql || !intakeStuckMs) return statement;
    const on = this.#intakeSql;
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = watchdog(intakeStuckMs, () => settled, () => {
        this.#log.error({ ms: intakeStuckMs }, 'an intake statement went unanswered; renewing the intake connection');
        // The statement pipelined behind it hangs on the same connection: renewed once.
        if (this.#intakeSql === on) this.#intakeSql = renewIntakeSql();
        reject(Object.assign(new Error(`intake statement unanswered after ${intakeStuckMs} ms`), { code: 'CONNECTION_DESTROYED' }));
      });
    });
    return Promise.race([statement, stuck]).finally(() => {
      settled = true;
      clearTimeout(timer);
    });
  }

  /**
   * After a failed batch: once more alone, and (connection lost) again after a short pause; never
   * once its request has been answered. A lead whose first commit did land without its answer
   * then stays stored, with its safety-net job, which finishes it.
   */
  async #retryIntake(b: QueuedIntake, first: unknown): Promise<IntakeResult> {
    let err = first;
    for (const pauseMs of [0, 250, 1000]) {
      if (!isAmbiguousOutcome(err) && pauseMs > 0) break;
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      if (performance.now() >= b.deadline) {
        this.#log.warn({ leadId: b.id }, 'intake outcome unknown at its request deadline; not tried again');
        throw new DatabaseUnavailableError('timeout', 'the lead could not be stored in time');
      }
      try {
        return (await this.#track(this.#unlessStuck(this.#commitIntakes([b])))).get(b.id)!;
      } catch (e) {
        err = e;
      }
    }
    throw err;
  }

  /**
   * One statement, in autocommit: the leads (those not seen before), their interactions and
   * signatures and one safety-net job naming them commit together (one round trip; see
   * `insertLeads`). Leads it skipped (a replayed signature, a taken key, our own id from a commit
   * whose answer was lost) are then resolved to the first lead's id in a transaction of their own.
   */
  async #commitIntakes(batch: QueuedIntake[]): Promise<Map<string, IntakeResult>> {
    const rows: NewLeadRow[] = batch.map((b) => ({
      ...b.lead,
      id: b.id,
      signature: b.signature,
      classification: b.classification && {
        score: b.classification.score,
        temperature: b.classification.temperature,
        classifier: b.classification.classifier,
        reasons: { reasons: b.classification.reasons, note: b.classification.note },
      },
    }));
    const job = {
      schema: JOBS_SCHEMA,
      queue: PIPELINE_QUEUE,
      dataKey: 'leadIds' satisfies keyof PipelineJob,
      startAfterSeconds: SAFETY_NET_DELAY_SECONDS,
      expireInDefaultSeconds: JOB_EXPIRE_IN_SECONDS,
    };
    // Leads classified at intake are assigned in the same statement (one write per lead instead of
    // an insert and an update), unless assignment waits on presence, which only this process knows.
    const assign = this.#assignsAtIntake && batch.every((b) => b.classification !== null);
    const started = performance.now();
    const { inserted, assigned } = await insertLeads(this.#intakeSql ?? this.#d.sql, rows, SIGNATURE_TTL_SECONDS, job, { assign });
    if (assigned.size > 0) this.#d.observeStep?.('assign', (performance.now() - started) / 1000);
    const results = new Map<string, IntakeResult>();
    for (const id of inserted) results.set(id, { id, status: 'NEW', duplicate: false, assignment: assigned.get(id) });
    const skipped = rows.filter((r) => !inserted.has(r.id));
    if (skipped.length === 0) return results;
    await this.#d.sql.begin(async (tx) => {
      // Our own id already stored: an earlier commit of this very request went through and only
      // its answer was lost. That is this request's lead (202), not a sender sending twice.
      const ours = new Set<string>();
      for (const r of skipped) if (await leadExists(tx, r.id)) ours.add(r.id);
      const others = skipped.filter((r) => !ours.has(r.id));
      const firsts = others.length > 0 ? await resolveDuplicates(tx, others) : new Map<string, string | undefined>();
      // A lost answer also lost the assignment made with it: read it back, so it is announced
      // (its notification stays in the database, where the SSE stream and the list find it).
      const stored = ours.size > 0 ? await findLeads(tx, [...ours]) : [];
      const assignmentOf = (id: string): IntakeAssignment | undefined => {
        const l = stored.find((x) => x.id === id);
        return l?.consultant_id && l.assigned_at
          ? { consultantId: l.consultant_id, consultantName: l.consultant_name ?? '', assignedAt: l.assigned_at, notification: undefined }
          : undefined;
      };
      for (const r of skipped) {
        if (ours.has(r.id)) results.set(r.id, { id: r.id, status: 'NEW', duplicate: false, assignment: assignmentOf(r.id) });
        else {
          const first = firsts.get(r.id);
          if (!first) throw new Error('lead insert conflicted but no duplicate was found');
          results.set(r.id, { id: first, status: 'NEW', duplicate: true });
        }
      }
    });
    return results;
  }

  /**
   * A lead changed outside the pipeline's own steps (Lívia's hand-off onto a lead the customer
   * already had, its classification cleared in the same transaction): the board and the notified
   * consultant are told, then it is classified again and, if it waits, assigned. A crash before
   * this runs leaves the lead unclassified, which the reconcile picks up.
   */
  leadChanged(lead: LeadRow, notifications: NotificationRow[] = []): Promise<void> {
    for (const n of notifications) this.#d.events.notification(n);
    this.#d.events.leadUpdated(lead);
    return this.#track(this.process([lead.id]));
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
    await this.#track(this.#reconcileOnce());
  }

  async #reconcileOnce(): Promise<void> {
    try {
      const ids = await leadsNeedingClassification(this.#work, 1000);
      if (ids.length > 0) await this.process(ids);
      else await this.requestAssignment();
      await purgeWebhookSignatures(this.#work, SIGNATURE_TTL_SECONDS);
      const now = Date.now();
      if (now - this.#lastOpenLeadsReconcile >= (this.#d.openLeadsReconcileMs ?? OPEN_LEADS_RECONCILE_MS)) {
        this.#lastOpenLeadsReconcile = now;
        await this.#reconcileOpenLeads();
      }
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
   * Classifies each lead once at a time: the fast path, the safety-net job and the reconcile may
   * all reach the same lead, on any instance, and an LLM call is too slow and costly to make twice.
   * In this process a set guards it; across instances a claim row (claimClassification).
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
    // Across instances: only the leads this instance claimed (another may be classifying the rest).
    const claimed = await claimClassification(this.#work, ids, this.#d.instanceId ?? 'local', CLASSIFY_CLAIM_SECONDS);
    if (claimed.length === 0) return;
    try {
      await this.#classifyClaimed(claimed);
    } finally {
      await releaseClassification(this.#work, claimed).catch((err) => this.#log.warn({ err }, 'releasing classification claims failed; they expire'));
    }
  }

  async #classifyClaimed(ids: string[]): Promise<void> {
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
          results[i] = await this.#d.classify(
            facts({
              name: l.name,
              requestedAmount: l.requested_amount === null ? null : Number(l.requested_amount),
              monthlyIncome: l.monthly_income === null ? null : Number(l.monthly_income),
              source: l.source,
              message: l.message,
              phone: l.phone,
              email: l.email,
            }),
          );
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
    for (;;) {
      // One statement in autocommit: one round trip and one commit per round (see assignWaitingLeads).
      const onlineIds = requiresPresence ? (await activeConsultantIds(this.#work)).filter((id) => isOnline(id)) : null;
      const rows = await assignWaitingLeads(this.#work, { limit: ASSIGN_BATCH, onlineIds });
      if (rows.length > 0) this.#announce(rows);
      // Fewer than a full batch: every waiting lead got a consultant, or nobody has room left.
      if (rows.length < ASSIGN_BATCH) return;
    }
  }

  #announce(rows: { consultantId: string; lead: LeadRow; notification: NotificationRow | undefined }[]): void {
    for (const r of rows) if (r.notification) this.#d.events.notification(r.notification);
    for (const r of rows) this.#d.events.leadUpdated(r.lead);
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

/** What the classifier is told about a lead. */
function facts(l: Pick<NewLead, 'name' | 'requestedAmount' | 'monthlyIncome' | 'source' | 'message' | 'phone' | 'email'>) {
  return {
    name: l.name,
    requestedAmount: l.requestedAmount,
    monthlyIncome: l.monthlyIncome,
    source: l.source,
    message: l.message,
    hasPhone: !!l.phone,
    hasEmail: !!l.email,
  };
}
