/**
 * The lead pipeline under races and restarts, against a real server and database: a lead closed
 * while an assignment is under way is never assigned; `open_leads` is recounted when a consultant
 * changes and at start; queue options reach a database whose queue already exists; shutdown waits
 * (with a bound) for a step still running; the reconcile queries have indexes; two intake
 * statements pipelined on the intake connection both assign; an intake statement that goes
 * unanswered shows in /ready and renews the intake connection instead of holding intake for good,
 * and a lead past its request deadline is not stored by a retry.
 */
import { describe, expect, it } from 'vitest';
import { migrate } from '../src/db/migrate.ts';
import { startJobs, stopJobs } from '../src/db/jobs.ts';
import { createLogger } from '../src/log.ts';
import { LeadPipeline, PIPELINE_QUEUE, type PipelineDeps } from '../src/services/lead-pipeline.ts';
import type { LeadClassifier } from '../src/services/lead-classifier.ts';
import { insertLeads, type NewLead } from '../src/db/leads.ts';
import { createSql, type Sql } from '../src/db/client.ts';
import { DatabaseUnavailableError } from '../src/db/faults.ts';
import { createLead, createUser, waitFor, WEBHOOK_SECRET } from './lead-helpers.ts';
import { testSql } from './support/db.ts';
import { startTestServer } from './support/server.ts';
import { startTcpProxy } from './support/tcp-proxy.ts';
import type { ActorSystem } from '../src/actors/runtime.ts';
import { readinessChecks } from '../src/boot/readiness.ts';
import type { Config } from '../src/config.ts';
import type { DatabaseMonitor } from '../src/db/monitor.ts';
import { registerIntakeMetrics } from '../src/http/metrics.ts';
import { Registry } from 'prom-client';

const MIGRATIONS = new URL('../migrations', import.meta.url).pathname;

/** True once some backend of this database waits on a row or advisory lock. */
async function lockWaiters(sql: import('../src/db/client.ts').Sql): Promise<number> {
  const [r] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
  return r!.n;
}

/** Resolves once no other backend of this database has been busy for five polls in a row. */
async function quiet(sql: Sql): Promise<void> {
  let calm = 0;
  const deadline = Date.now() + 20_000;
  while (calm < 5) {
    if (Date.now() > deadline) throw new Error('the database never went quiet');
    const [r] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and state not in ('idle')`;
    calm = r!.n === 0 ? calm + 1 : 0;
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** A pipeline that classifies every lead HOT at once (so intake assigns it) and tells nobody. */
function intakePipeline(deps: Pick<PipelineDeps, 'sql' | 'boss' | 'log'> & Partial<PipelineDeps>): LeadPipeline {
  const classify: LeadClassifier = Object.assign(
    async () => ({ score: 80, temperature: 'HOT' as const, classifier: 'rules' as const, reasons: [], note: '' }),
    { instant: true },
  );
  return new LeadPipeline({
    classify,
    requiresPresence: false,
    isOnline: () => true,
    events: { leadCreated() {}, leadUpdated() {}, notification() {}, workloadChanged() {} },
    reconcileMs: 60_000,
    ...deps,
  });
}

/** A lead from a site form: a name and an email. */
function webLead(name: string, email: string, externalId: string | null = null): NewLead {
  return { name, phone: null, email, source: 'site', externalId, idempotencyKey: null, message: null, requestedAmount: null, monthlyIncome: null, metadata: {} };
}

/**
 * An intake connection through a TCP proxy that, once it is set up, carries nothing either way:
 * sockets stay open, no answer and no error ever comes (what a wedged driver looks like too).
 * `renewIntakeSql` opens a direct connection in its place.
 */
async function silentIntake(url: string) {
  const target = new URL(url);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(url);
  viaProxy.port = String(proxy.port);
  const silent = createSql(viaProxy.toString(), { max: 1, applicationName: 'livia-intake' });
  await silent`select 1`;
  proxy.pause();
  const renewed: Sql[] = [];
  return {
    renewed,
    deps: {
      intakeSql: silent,
      renewIntakeSql: () => {
        void silent.end({ timeout: 0 }).catch(() => {});
        const next = createSql(url, { max: 1, applicationName: 'livia-intake' });
        renewed.push(next);
        return next;
      },
    },
    async close() {
      proxy.resume();
      await Promise.all([silent.end({ timeout: 1 }), ...renewed.map((r) => r.end({ timeout: 5 }))]);
      await proxy.close();
    },
  };
}

describe('assignment races', () => {
  it('a lead a manager closes while an assignment is under way is never assigned', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET, RATE_LIMIT_PER_MINUTE: '100000' });
    const admin = await s.login();
    const consultant = await createUser(s, admin, { max_open_leads: 10 });
    const sql = s.server.sql;

    // Hold the consultant's row: the next assignment reads the waiting leads, then waits here
    // (it locks its candidates after reading), with the lead already in its plan.
    const holder = await sql.reserve();
    let id: string;
    try {
      await holder`begin`;
      await holder`select id from consultants where id = ${consultant.id} for update`;
      id = await createLead(s.url, { name: 'Fechada no meio', email: 'race@x.test' });
      await waitFor('the assignment to wait on the consultant', async () => (await lockWaiters(sql)) > 0, 20_000);
      const [lead] = await sql<{ version: number; ai_classified_at: Date | null }[]>`select version, ai_classified_at from leads where id = ${id}`;
      expect(lead!.ai_classified_at).not.toBeNull();

      // The manager closes it meanwhile (an unassigned lead touches no consultant row).
      const res = await s.api(`/api/leads/${id}`, { method: 'PATCH', token: admin, body: { version: lead!.version, status: 'LOST' } });
      expect(res.status).toBe(200);
      await holder`commit`;
    } finally {
      holder.release();
    }

    await waitFor('the assignment to finish', async () => (await lockWaiters(sql)) === 0, 20_000);
    // Another round for good measure (a reconcile would do the same).
    await s.api(`/api/consultants/${consultant.id}`, { method: 'PATCH', token: admin, body: { max_open_leads: 11 } });
    await new Promise((r) => setTimeout(r, 500));
    const [row] = await sql<{ status: string; consultant_id: string | null; assigned: number; notified: number; open_leads: number }[]>`
      select l.status, l.consultant_id,
             (select count(*)::int from interactions i where i.lead_id = l.id and i.type = 'assigned') as assigned,
             (select count(*)::int from notifications n where n.lead_id = l.id) as notified,
             (select open_leads from consultants where id = ${consultant.id}) as open_leads
      from leads l where l.id = ${id!}`;
    expect(row).toEqual({ status: 'LOST', consultant_id: null, assigned: 0, notified: 0, open_leads: 0 });

    // The pipeline still assigns the next one.
    const next = await createLead(s.url, { name: 'Seguinte', email: 'next@x.test' });
    await waitFor('the next lead assigned', async () => {
      const [l] = await sql<{ consultant_id: string | null }[]>`select consultant_id from leads where id = ${next}`;
      return l!.consultant_id === consultant.id;
    });
  });

  it('open_leads is recounted from the leads when a consultant changes', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET, RATE_LIMIT_PER_MINUTE: '100000' });
    const admin = await s.login();
    const c = await createUser(s, admin, { max_open_leads: 5 });
    const id = await createLead(s.url, { name: 'Conta', email: 'count@x.test' });
    await waitFor('assigned', async () => {
      const [l] = await s.server.sql<{ consultant_id: string | null }[]>`select consultant_id from leads where id = ${id}`;
      return l!.consultant_id === c.id;
    });
    // Drift, as a bug or a manual fix in the database would leave it.
    await s.server.sql`update consultants set open_leads = 4 where id = ${c.id}`;
    expect((await s.api(`/api/consultants/${c.id}`, { method: 'PATCH', token: admin, body: { max_open_leads: 6 } })).status).toBe(200);
    await waitFor('recounted', async () => {
      const [r] = await s.server.sql<{ open_leads: number }[]>`select open_leads from consultants where id = ${c.id}`;
      return r!.open_leads === 1;
    });
  });
});

describe('pipeline lifecycle', () => {
  it('queue options reach a database whose queue already exists; open_leads is recounted at start', async () => {
    const { sql, url } = await testSql();
    await migrate(sql, MIGRATIONS);
    const log = createLogger('silent');
    const old = await startJobs({ url, log, queues: [{ name: PIPELINE_QUEUE, policy: 'standard', retryLimit: 1, retryDelay: 1 }] });
    await stopJobs(old);
    const [c] = await sql<{ id: string }[]>`
      insert into consultants (name, email, password_hash, role, open_leads) values ('Drift', 'drift@x.test', 'x', 'CONSULTANT', 3) returning id`;

    const boss = await startJobs({ url, log, queues: [] });
    const pipeline = new LeadPipeline({
      sql,
      boss,
      log,
      classify: async () => ({ score: 50, temperature: 'WARM', classifier: 'rules', reasons: [], note: '' }),
      requiresPresence: false,
      isOnline: () => true,
      events: { leadCreated() {}, leadUpdated() {}, notification() {}, workloadChanged() {} },
    });
    try {
      await pipeline.start();
      const q = await boss.getQueue(PIPELINE_QUEUE);
      expect(q).toMatchObject({ retryLimit: 10, retryDelay: 5, retryBackoff: true, policy: 'standard' });
      await waitFor('open_leads recounted', async () => {
        const [r] = await sql<{ open_leads: number }[]>`select open_leads from consultants where id = ${c!.id}`;
        return r!.open_leads === 0;
      });
    } finally {
      await pipeline.stop();
      await stopJobs(boss);
    }
  });

  it('stop() waits for a step still running before the pools close, and only up to its bound', async () => {
    const { sql, url } = await testSql();
    await migrate(sql, MIGRATIONS);
    const log = createLogger('silent');
    const boss = await startJobs({ url, log, queues: [] });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    const slow: LeadClassifier = async () => {
      started = true;
      await gate;
      return { score: 80, temperature: 'HOT', classifier: 'rules', reasons: [], note: '' };
    };
    const make = (stopWaitMs: number) =>
      new LeadPipeline({
        sql,
        boss,
        log,
        classify: slow,
        requiresPresence: false,
        isOnline: () => true,
        events: { leadCreated() {}, leadUpdated() {}, notification() {}, workloadChanged() {} },
        reconcileMs: 60_000,
        stopWaitMs,
      });
    const id = '00000000-0000-4000-8000-000000000001';
    await insertLeads(
      sql,
      [{ id, name: 'Lenta', phone: null, email: 'slow@x.test', source: 'site', externalId: null, idempotencyKey: null, message: null, requestedAmount: null, monthlyIncome: null, metadata: {} }],
      360,
    );

    // Bounded: a step that never ends does not hold shutdown past stopWaitMs.
    const stuck = make(300);
    await stuck.start(); // its first reconcile picks the lead up and blocks in the classifier
    await waitFor('the classifier to start', async () => started, 10_000);
    const t0 = Date.now();
    await stuck.stop();
    expect(Date.now() - t0).toBeLessThan(5_000);

    // Waits: stop() returns only after the step finished and wrote its result.
    started = false;
    const pipeline = make(30_000);
    await pipeline.start();
    await waitFor('the classifier to start again', async () => started, 10_000);
    let stopped = false;
    const stopping = pipeline.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(stopped).toBe(false);
    release();
    await stopping;
    // The write happened before stop() returned, while the pool was open.
    const [row] = await sql<{ ai_score: number | null }[]>`select ai_score from leads where id = ${id}`;
    expect(row!.ai_score).toBe(80);
    await stopJobs(boss);
  });

  it('two intake statements in flight on the one intake connection: every lead of a burst is assigned in its own statement', async () => {
    const { sql, url } = await testSql();
    await migrate(sql, MIGRATIONS);
    const log = createLogger('silent');
    for (const n of ['A', 'B', 'C']) {
      await sql`insert into consultants (name, email, password_hash, max_open_leads) values (${n}, ${`${n.toLowerCase()}@x.test`}, 'x', 1000)`;
    }
    const boss = await startJobs({ url, log, queues: [] });
    const intakeSql = createSql(url, { max: 1, applicationName: 'livia-intake' });
    // Counts the intake statements in flight: the queries awaited (fragments are only embedded).
    let inFlight = 0;
    let most = 0;
    let statements = 0;
    const counted = new Proxy(intakeSql, {
      apply(target, self, args) {
        const q = Reflect.apply(target, self, args) as Promise<unknown>;
        const then = q.then.bind(q);
        let awaited = false;
        q.then = ((ok, fail) => {
          if (!awaited) {
            awaited = true;
            statements++;
            most = Math.max(most, ++inFlight);
            then(() => inFlight--, () => inFlight--);
          }
          return then(ok, fail);
        }) as typeof q.then;
        return q;
      },
    }) as Sql;
    const pipeline = intakePipeline({ sql, boss, log, intakeSql: counted });
    try {
      await pipeline.start();
      // The reconcile start() runs in the background takes the assignment lock and recounts the
      // consultants' rows: an intake meeting it stores its leads unassigned, by design. Let it end.
      await quiet(sql);
      // Waves a turn of the event loop apart: the next wave's statement goes while the last's runs.
      const intakes: Promise<{ id: string; assignment?: unknown }>[] = [];
      for (let wave = 0; wave < 30; wave++) {
        for (let i = 0; i < 8; i++) {
          const k = wave * 8 + i;
          intakes.push(
            pipeline.intake(webLead(`Lead ${k}`, `burst${k}@x.test`)),
          );
        }
        await new Promise((r) => setImmediate(r));
      }
      const results = await Promise.all(intakes);
      expect(most).toBe(2);
      expect(statements).toBeGreaterThan(2);
      // Pipelined on one connection, the second statement never finds the assignment lock taken.
      expect(results.filter((r) => !r.assignment)).toEqual([]);
      const [row] = await sql<{ assigned: number; open: number; backends: number }[]>`
        select (select count(*)::int from leads where consultant_id is not null) as assigned,
               (select sum(open_leads)::int from consultants) as open,
               (select count(*)::int from pg_stat_activity where datname = current_database() and application_name = 'livia-intake') as backends`;
      expect(row).toEqual({ assigned: 240, open: 240, backends: 1 });
    } finally {
      await pipeline.stop();
      await stopJobs(boss);
      await intakeSql.end({ timeout: 5 });
    }
  });

  it('an intake statement that goes unanswered (a silent connection) shows in /ready, renews the intake connection, and each lead is stored once', async () => {
    const { sql, url } = await testSql();
    await migrate(sql, MIGRATIONS);
    const log = createLogger('silent');
    await sql`insert into consultants (name, email, password_hash, max_open_leads) values ('A', 'a@x.test', 'x', 1000)`;
    const boss = await startJobs({ url, log, queues: [] });
    const intake = await silentIntake(url);
    const pipeline = intakePipeline({ sql, ...intake.deps, intakeStuckMs: 1000, boss, log });
    try {
      await pipeline.start();
      // /ready's database check, with a statement timeout of 500 ms (the watchdog's half).
      const database = readinessChecks({
        sql,
        boss,
        system: {} as ActorSystem,
        config: { dbStatementTimeoutMs: 500 } as Config,
        monitor: { isUp: true } as DatabaseMonitor,
        intake: pipeline,
      }).database;
      expect(await database()).toEqual({ status: 'ok' });
      const started = Date.now();
      const storing = Promise.all(
        Array.from({ length: 5 }, (_, k) =>
          pipeline.intake(webLead(`Silent ${k}`, `silent${k}@x.test`, `silent-${k}`)),
        ),
      );
      await new Promise((r) => setTimeout(r, 700));
      // Stalled past the statement timeout, not yet renewed: /ready says so, though the request
      // pool's ping answers.
      expect(pipeline.intakeWaitingMs()).toBeGreaterThan(500);
      expect(await database()).toMatchObject({ status: 'down', reason: 'intake_stalled' });
      const registry = new Registry();
      registerIntakeMetrics(registry, pipeline);
      const gauge = await registry.getSingleMetricAsString('pipeline_intake_waiting_seconds');
      expect(Number(gauge.match(/^pipeline_intake_waiting_seconds ([\d.]+)$/m)?.[1])).toBeGreaterThan(0.5);
      const results = await storing;
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(pipeline.intakeWaitingMs()).toBe(0);
      expect(await database()).toEqual({ status: 'ok' });
      expect(intake.renewed).toHaveLength(1);
      expect(results.every((r) => !r.duplicate)).toBe(true);
      const [row] = await sql<{ leads: number; created: number; assigned: number }[]>`
        select (select count(*)::int from leads) as leads,
               (select count(*)::int from interactions where type = 'created') as created,
               (select count(*)::int from leads where consultant_id is not null) as assigned`;
      expect(row).toEqual({ leads: 5, created: 5, assigned: 5 });
      expect(new Set(results.map((r) => r.id)).size).toBe(5);
    } finally {
      await pipeline.stop();
      await stopJobs(boss);
      await intake.close();
    }
  });

  it('past its request deadline a lead is not stored again: the intakes of a silent connection are refused, and nothing is stored later', async () => {
    const { sql, url } = await testSql();
    await migrate(sql, MIGRATIONS);
    const log = createLogger('silent');
    await sql`insert into consultants (name, email, password_hash, max_open_leads) values ('A', 'a@x.test', 'x', 1000)`;
    const boss = await startJobs({ url, log, queues: [] });
    const intake = await silentIntake(url);
    // The senders are answered 503 at 500 ms; the watchdog renews the connection at 1 s.
    const pipeline = intakePipeline({ sql, ...intake.deps, intakeStuckMs: 1000, intakeDeadlineMs: 500, boss, log });
    try {
      await pipeline.start();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 5 }, (_, k) => pipeline.intake(webLead(`Late ${k}`, `late${k}@x.test`))),
      );
      expect(intake.renewed).toHaveLength(1);
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(DatabaseUnavailableError);
      }
      // The silent connection never carried them: nothing is stored, now or after a while.
      await new Promise((r) => setTimeout(r, 500));
      const [row] = await sql<{ leads: number }[]>`select count(*)::int as leads from leads`;
      expect(row).toEqual({ leads: 0 });
      // The renewed connection stores the next lead.
      const next = await pipeline.intake(webLead('After', 'after@x.test'));
      expect(next.duplicate).toBe(false);
      expect(await sql`select 1 from leads where id = ${next.id}`).toHaveLength(1);
    } finally {
      await pipeline.stop();
      await stopJobs(boss);
      await intake.close();
    }
  });

  it('the reconcile queries can use their indexes (migration 004)', async () => {
    const { sql } = await testSql();
    await migrate(sql, MIGRATIONS);
    const plan = async (q: string) =>
      sql.begin(async (tx) => {
        await tx`set local enable_seqscan = off`;
        const rows = await tx.unsafe<{ 'QUERY PLAN': string }[]>(`explain ${q}`);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      });
    expect(await plan(`select id from leads where ai_classified_at is null order by created_at, id limit 1000`)).toMatch(/leads_unclassified_idx/);
    expect(
      await plan(`select count(*) from leads l where l.consultant_id = '00000000-0000-4000-8000-000000000001'
                  and l.status in ('NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL')`),
    ).toMatch(/leads_open_by_consultant_idx/);
    expect(await plan(`delete from webhook_signatures where signed_at < 1000 and expires_at < now()`)).toMatch(/webhook_signatures_pkey/);
  });
});
