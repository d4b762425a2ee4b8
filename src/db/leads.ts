/**
 * Leads, their append-only interactions, and assignment. Every function takes the pool or a
 * transaction, so callers compose them inside one `sql.begin`.
 *
 * @example
 * const created = await insertLead(tx, input);   // undefined when a duplicate
 * const page = await listLeads(sql, { status: 'NEW', limit: 50 });
 */
import type { LeadStatus, Temperature } from '../domain/lead-status.ts';
import type { Queryable } from './client.ts';
import type { NotificationRow } from './notifications.ts';

export interface LeadRow {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  source: string;
  external_id: string | null;
  message: string | null;
  requested_amount: string | null;
  monthly_income: string | null;
  status: LeadStatus;
  ai_score: number | null;
  ai_temperature: Temperature | null;
  ai_classifier: 'groq' | 'rules' | null;
  ai_reasons: unknown;
  ai_classified_at: Date | null;
  consultant_id: string | null;
  consultant_name: string | null;
  assigned_at: Date | null;
  metadata: Record<string, unknown>;
  version: number;
  created_at: Date;
  updated_at: Date;
  closed_at: Date | null;
}

export type ActorType = 'user' | 'system' | 'livia';

export interface NewLead {
  name: string;
  phone: string | null;
  email: string | null;
  source: string;
  externalId: string | null;
  idempotencyKey: string | null;
  message: string | null;
  requestedAmount: number | null;
  monthlyIncome: number | null;
  metadata: Record<string, unknown>;
}

const leadSelect = (sql: Queryable) => sql`
  select l.*, c.name as consultant_name
  from leads l left join consultants c on c.id = l.consultant_id`;

/** A webhook's signature: accepted once (migration 004), kept while its timestamp is in the window. */
export interface WebhookSignature {
  /** `X-Webhook-Timestamp`, unix seconds. */
  signedAt: number;
  /** `X-Webhook-Signature` as sent (`sha256=<hex>`). */
  value: string;
}

export type NewLeadRow = NewLead & {
  id: string;
  signature?: WebhookSignature | null | undefined;
  /** Stored with the lead (and its `classified` interaction) when it was classified at intake. */
  classification?: Omit<ClassificationWrite, 'id'> | null | undefined;
};

/**
 * Inserts many leads (with their `created` interactions) in one statement. A lead is skipped when
 * its webhook signature was already used, or its idempotency key or (source, external_id) is
 * taken, by an earlier lead or one earlier in the same batch. A concurrent duplicate waits on the
 * unique index until the first commits, then inserts nothing. Returns the ids inserted;
 * `created_at` follows the batch's order. Skipped ones are resolved with `resolveDuplicates`.
 * Also says how many signatures were stored (none: the batch was all replays).
 *
 * With `job`, the same statement also enqueues one pg-boss job naming the leads it inserted (none
 * when it inserted none), so leads and job commit together even in autocommit: one round trip
 * instead of BEGIN, the statements and COMMIT. The row is the one pg-boss 10's `send` writes
 * (plans.insertJob, with the queue's options and the boss's defaults); test/intake-job.test.ts
 * compares the two. The job names only the leads left unassigned: the others have nothing left.
 *
 * With `assign`, the classified leads are also assigned in the same statement, as
 * `assignWaitingLeads` would assign them right after (same rotation, workload, `assigned`
 * interaction after `classified`, numbered notification; the lead is stored at version 2, as
 * created then assigned): one write per lead instead of an insert and an update. It never waits
 * for that: when the assignment lock or an eligible consultant is held by another transaction,
 * or when a stored lead already waits for a consultant (the oldest go first), the leads are stored
 * unassigned and `assignWaitingLeads` takes them. A lead skipped as a duplicate after its slot in
 * the rotation was counted leaves that slot unused (the workload counts only what was inserted).
 * Returns, per lead assigned, its consultant and notification.
 */
export async function insertLeads(
  sql: Queryable,
  ls: NewLeadRow[],
  signatureTtlSeconds: number,
  job?: SafetyNetJob,
  o: { assign?: boolean } = {},
): Promise<{ inserted: Set<string>; signaturesStored: number; assigned: Map<string, IntakeAssignment> }> {
  const assigned = new Map<string, IntakeAssignment>();
  if (ls.length === 0) return { inserted: new Set(), signaturesStored: 0, assigned };
  const assign = o.assign ?? false;
  const col = <T>(f: (l: NewLeadRow) => T) => ls.map(f) as never;
  const [row] = await sql<{ ids: string[] | null; signed: number; assigned: AssignedJson[] | null }[]>`
    with lk as (
      -- Never waits: held elsewhere, the leads are stored unassigned (see the comment above).
      select pg_try_advisory_xact_lock(${ASSIGNMENT_LOCK_KEY}) as held where ${assign}::boolean
    ), t as (
      select * from unnest(${col((l) => l.id)}::uuid[], ${col((l) => l.name)}::text[], ${col((l) => l.phone)}::text[], ${col((l) => l.email)}::text[],
                  ${col((l) => l.source)}::text[], ${col((l) => l.externalId)}::text[], ${col((l) => l.idempotencyKey)}::text[],
                  ${col((l) => l.message)}::text[], ${col((l) => l.requestedAmount)}::numeric[], ${col((l) => l.monthlyIncome)}::numeric[],
                  ${col((l) => JSON.stringify(l.metadata))}::text[], ${col((l) => l.signature?.signedAt ?? null)}::bigint[],
                  ${col((l) => l.signature?.value ?? null)}::text[], ${col((l) => l.classification?.score ?? null)}::int[],
                  ${col((l) => l.classification?.temperature ?? null)}::text[], ${col((l) => l.classification?.classifier ?? null)}::text[],
                  ${col((l) => (l.classification ? JSON.stringify(l.classification.reasons) : null))}::text[])
        with ordinality as t(id, name, phone, email, source, external_id, idempotency_key, message, requested_amount, monthly_income,
                             metadata, signed_at, signature, ai_score, ai_temperature, ai_classifier, ai_reasons, ord)
    ), sig as (
      insert into webhook_signatures (signed_at, signature, lead_id, expires_at)
      select signed_at, signature, id, to_timestamp(signed_at) + make_interval(secs => ${signatureTtlSeconds})
      from t where signature is not null
      order by ord
      on conflict do nothing
      returning lead_id
    ), ${candidates(sql, null, { skipLocked: true })}, queue as materialized (
      -- The classified leads of this batch, when every eligible consultant could be locked at once
      -- and no stored lead waits for one (those go first, through assignWaitingLeads).
      select t.id, row_number() over (order by t.ord) as n from t
      where t.ai_score is not null and (t.signature is null or t.id in (select lead_id from sig))
        and (select count(*) from cand) > 0
        and (select count(*) from cand) = (select count(*) from consultants where ${eligible(sql, null)})
        and not exists (select 1 from leads w where w.consultant_id is null and w.status = 'NEW' and w.ai_classified_at is not null)
    ), ${roundRobin(sql)}, lead as (
      insert into leads (id, name, phone, email, source, external_id, idempotency_key, message,
                         requested_amount, monthly_income, metadata, ai_score, ai_temperature, ai_classifier, ai_reasons,
                         ai_classified_at, consultant_id, assigned_at, version, created_at, updated_at)
      select t.id, name, phone, email, source, external_id, idempotency_key, message, requested_amount, monthly_income,
             metadata::jsonb, ai_score, ai_temperature, ai_classifier, ai_reasons::jsonb,
             case when ai_score is not null then clock_timestamp() end, v.consultant_id, v.at,
             -- Stored as the separate steps would leave it: created (1), then assigned (2).
             case when v.lead_id is null then 1 else 2 end, clock_timestamp(), clock_timestamp()
      from t left join v on v.lead_id = t.id
      where signature is null or t.id in (select lead_id from sig)
      order by t.ord
      on conflict do nothing
      returning id, name, consultant_id, assigned_at
    ), audit as (
      -- One insert, so each lead's 'created' comes before its 'classified' and 'assigned'
      -- (interaction ids grow in order).
      insert into interactions (lead_id, type, actor_type, data)
      select t.id, x.type, 'system',
             case x.n when 1 then jsonb_build_object('source', t.source)
                      when 2 then jsonb_build_object('score', t.ai_score, 'temperature', t.ai_temperature, 'classifier', t.ai_classifier) || t.ai_reasons::jsonb
                      else jsonb_build_object('consultant_id', lead.consultant_id, 'by', 'round_robin') end
      from lead join t on t.id = lead.id
      cross join lateral (values (1, 'created'), (2, 'classified'), (3, 'assigned')) as x(n, type)
      where x.n = 1 or (x.n = 2 and t.ai_score is not null) or (x.n = 3 and lead.consultant_id is not null)
      order by t.ord, x.n
    ), done as (
      select lead.id, lead.name, lead.consultant_id, lead.assigned_at, t.ord
      from lead join t on t.id = lead.id where lead.consultant_id is not null
    ), ${assignedTail(sql)}, waiting as (
      select id from lead where consultant_id is null
    )${job ? safetyNetJob(sql, job) : sql``}
    select (select array_agg(id) from lead) as ids, (select count(*) from sig)::int as signed,
           (select jsonb_agg(jsonb_build_object('id', d.id, 'consultant_id', d.consultant_id, 'consultant_name', c.name,
                   'assigned_at', d.assigned_at, 'n_id', n.id, 'n_seq', n.seq, 'n_type', n.type, 'n_title', n.title,
                   'n_body', n.body, 'n_created_at', n.created_at) order by d.ord)
            from done d join consultants c on c.id = d.consultant_id left join notified n on n.lead_id = d.id) as assigned`;
  for (const a of row?.assigned ?? []) {
    assigned.set(a.id, {
      consultantId: a.consultant_id,
      consultantName: a.consultant_name,
      assignedAt: new Date(a.assigned_at),
      notification: notificationOf({ ...a, n_created_at: a.n_created_at === null ? null : new Date(a.n_created_at) }, a.id, a.consultant_id),
    });
  }
  return { inserted: new Set(row?.ids ?? []), signaturesStored: row?.signed ?? 0, assigned };
}

/** A lead `insertLeads` assigned in the same statement. */
export interface IntakeAssignment {
  consultantId: string;
  consultantName: string;
  assignedAt: Date;
  notification: NotificationRow | undefined;
}

interface NotificationColumns {
  n_id: string | number | null;
  n_seq: string | number | null;
  n_type: string | null;
  n_title: string | null;
  n_body: string | null;
  n_created_at: Date | null;
}

type AssignedJson = NotificationColumns & { id: string; consultant_id: string; consultant_name: string; assigned_at: string; n_created_at: string | null };

function notificationOf(n: NotificationColumns, leadId: string, recipientId: string): NotificationRow | undefined {
  if (n.n_id === null) return undefined;
  return {
    id: Number(n.n_id),
    seq: Number(n.n_seq),
    recipient_id: recipientId,
    type: n.n_type!,
    title: n.n_title!,
    body: n.n_body!,
    lead_id: leadId,
    read_at: null,
    created_at: n.n_created_at!,
  };
}

/** The pg-boss job `insertLeads` enqueues with the leads: `{ [dataKey]: [inserted ids] }`. */
export interface SafetyNetJob {
  schema: string;
  queue: string;
  dataKey: string;
  startAfterSeconds: number;
  /** The boss's `expireInSeconds`, used when the queue sets none. */
  expireInDefaultSeconds: number;
}

/**
 * pg-boss 10's insertJob for `send(queue, data, { startAfter })`, as a CTE after `lead`: no
 * priority, singleton or per-job options, so each value comes from the queue, else the boss's
 * default, else pg-boss's own (retention 14 days, 2 retries, no delay, no backoff).
 */
const safetyNetJob = (sql: Queryable, j: SafetyNetJob) => sql`, job as (
      insert into ${sql(j.schema)}.job (id, name, data, priority, start_after, singleton_key, singleton_on, dead_letter,
                                     expire_in, keep_until, retry_limit, retry_delay, retry_backoff, policy)
      select gen_random_uuid(), q.name, jsonb_build_object(${j.dataKey}::text, (select jsonb_agg(id) from waiting)), 0, s.start_after,
             null, null, q.dead_letter,
             coalesce(q.expire_seconds, ${j.expireInDefaultSeconds}::int) * interval '1s',
             s.start_after + cast(coalesce((q.retention_minutes * 60)::text, '14 days') as interval),
             coalesce(q.retry_limit, 2),
             case when coalesce(q.retry_backoff, false) then greatest(q.retry_delay, 1) else coalesce(q.retry_delay, 0) end,
             coalesce(q.retry_backoff, false),
             q.policy
      from ${sql(j.schema)}.queue q
      cross join (select now() + cast(${String(j.startAfterSeconds)}::text as interval) as start_after) s
      where q.name = ${j.queue} and exists (select 1 from waiting)
      on conflict do nothing
    )`;

/**
 * For leads `insertLeads` skipped, inside the same transaction: the id of the lead each one
 * duplicates. A replayed signature answers with the lead its first use answered with; a lead whose
 * signature was new but whose key was taken points that signature at the first lead, so replaying
 * it later answers the same. Undefined where neither is found (the caller treats it as an error).
 */
export async function resolveDuplicates(sql: Queryable, ls: NewLeadRow[]): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const l of ls) {
    let first: string | undefined;
    if (l.signature) {
      // Only a signature pointing at a stored lead counts: `insertLeads` in autocommit stores a
      // signature whose lead then conflicted (a taken key) pointing at that lead's unused id, until
      // this repoints it; a replay in between, or after a crash there, finds the first by its key.
      const [row] = await sql<{ lead_id: string }[]>`
        select w.lead_id from webhook_signatures w join leads on leads.id = w.lead_id
        where w.signed_at = ${l.signature.signedAt} and w.signature = ${l.signature.value}`;
      if (row && row.lead_id !== l.id) first = row.lead_id;
    }
    first ??= await findDuplicateLead(sql, { idempotencyKey: l.idempotencyKey, source: l.source, externalId: l.externalId });
    if (first && l.signature) {
      await sql`
        update webhook_signatures w set lead_id = ${first}
        where w.signed_at = ${l.signature.signedAt} and w.signature = ${l.signature.value}
          and (w.lead_id = ${l.id} or not exists (select 1 from leads where leads.id = w.lead_id))`;
    }
    out.set(l.id, first);
  }
  return out;
}

/** Forgets signatures whose timestamp can no longer pass the freshness check. */
export async function purgeWebhookSignatures(sql: Queryable, olderThanSeconds: number): Promise<number> {
  const rows = await sql`
    delete from webhook_signatures
    where signed_at < extract(epoch from now())::bigint - ${olderThanSeconds} and expires_at < now()`;
  return rows.count;
}

export async function findDuplicateLead(
  sql: Queryable,
  key: { idempotencyKey: string | null; source: string; externalId: string | null },
): Promise<string | undefined> {
  const [row] = await sql<{ id: string }[]>`
    select id from leads
    where (${key.idempotencyKey}::text is not null and idempotency_key = ${key.idempotencyKey})
       or (${key.externalId}::text is not null and source = ${key.source} and external_id = ${key.externalId})
    order by created_at limit 1`;
  return row?.id;
}

export async function leadExists(sql: Queryable, id: string): Promise<boolean> {
  const [row] = await sql`select 1 from leads where id = ${id}`;
  return row !== undefined;
}

export async function findLead(sql: Queryable, id: string): Promise<LeadRow | undefined> {
  const [row] = await sql<LeadRow[]>`${leadSelect(sql)} where l.id = ${id}`;
  return row;
}

export async function findLeads(sql: Queryable, ids: string[]): Promise<LeadRow[]> {
  if (ids.length === 0) return [];
  return sql<LeadRow[]>`${leadSelect(sql)} where l.id = any(${ids}::uuid[])`;
}

export interface LeadFilter {
  status?: LeadStatus | undefined;
  consultantId?: string | undefined;
  temperature?: Temperature | undefined;
  source?: string | undefined;
  q?: string | undefined;
  /** Keyset cursor: the (created_at, id) of the last row of the previous page. */
  after?: { createdAt: Date; id: string } | undefined;
  limit: number;
}

const likeEscape = (s: string) => s.replace(/[\\%_]/g, (m) => `\\${m}`);

/** Newest first, with id as the tie-breaker, so pages are stable while leads keep arriving. */
export async function listLeads(sql: Queryable, f: LeadFilter): Promise<LeadRow[]> {
  const q = f.q ? `%${likeEscape(f.q)}%` : null;
  const qDigits = f.q && /\d{3,}/.test(f.q) ? `%${f.q.replace(/\D/g, '')}%` : null;
  return sql<LeadRow[]>`
    ${leadSelect(sql)}
    where (${f.status ?? null}::text is null or l.status = ${f.status ?? null})
      and (${f.consultantId ?? null}::uuid is null or l.consultant_id = ${f.consultantId ?? null})
      and (${f.temperature ?? null}::text is null or l.ai_temperature = ${f.temperature ?? null})
      and (${f.source ?? null}::text is null or l.source = ${f.source ?? null})
      and (${q}::text is null or l.name ilike ${q} or l.email ilike ${q} or l.phone like ${qDigits ?? q})
      and (${f.after?.createdAt ?? null}::timestamptz is null
           or (l.created_at, l.id) < (
             -- The cursor's own row gives created_at to the microsecond; the cursor only carries
             -- milliseconds (a JS Date), which would skip leads created in the same millisecond.
             coalesce((select c.created_at from leads c where c.id = ${f.after?.id ?? null}::uuid), ${f.after?.createdAt ?? null}::timestamptz),
             ${f.after?.id ?? null}::uuid))
    order by l.created_at desc, l.id desc
    limit ${f.limit}`;
}

/** How many leads match the filter in each status (the Kanban's column counts). */
export async function countLeadsByStatus(sql: Queryable, f: Omit<LeadFilter, 'status' | 'after' | 'limit'>): Promise<Partial<Record<LeadStatus, number>>> {
  const q = f.q ? `%${likeEscape(f.q)}%` : null;
  const qDigits = f.q && /\d{3,}/.test(f.q) ? `%${f.q.replace(/\D/g, '')}%` : null;
  const rows = await sql<{ status: LeadStatus; count: number }[]>`
    select l.status, count(*)::int as count from leads l
    where (${f.consultantId ?? null}::uuid is null or l.consultant_id = ${f.consultantId ?? null})
      and (${f.temperature ?? null}::text is null or l.ai_temperature = ${f.temperature ?? null})
      and (${f.source ?? null}::text is null or l.source = ${f.source ?? null})
      and (${q}::text is null or l.name ilike ${q} or l.email ilike ${q} or l.phone like ${qDigits ?? q})
    group by l.status`;
  return Object.fromEntries(rows.map((r) => [r.status, r.count]));
}

export async function recordInteraction(
  sql: Queryable,
  i: { leadId: string; type: string; actorType: ActorType; actorId?: string | null | undefined; data?: Record<string, unknown> },
): Promise<void> {
  await sql`
    insert into interactions (lead_id, type, actor_type, actor_id, data)
    values (${i.leadId}, ${i.type}, ${i.actorType}, ${i.actorId ?? null}, ${sql.json((i.data ?? {}) as never)})`;
}

export interface InteractionRow {
  id: string;
  type: string;
  actor_type: ActorType;
  actor_id: string | null;
  actor_name: string | null;
  data: Record<string, unknown>;
  created_at: Date;
}

export async function listInteractions(sql: Queryable, leadId: string): Promise<InteractionRow[]> {
  return sql<InteractionRow[]>`
    select i.id, i.type, i.actor_type, i.actor_id, c.name as actor_name, i.data, i.created_at
    from interactions i left join consultants c on c.id = i.actor_id
    where i.lead_id = ${leadId} order by i.id`;
}

export interface ClassificationWrite {
  id: string;
  score: number;
  temperature: Temperature;
  classifier: 'groq' | 'rules';
  reasons: Record<string, unknown>;
}

/**
 * Applies classifications not yet applied, with their `classified` interactions, in one statement
 * (atomic without a transaction); returns the ids it changed (a retry changes none).
 */
export async function applyClassifications(sql: Queryable, rows: ClassificationWrite[]): Promise<string[]> {
  if (rows.length === 0) return [];
  // JSON goes in as text[] and is cast per element: a `::jsonb[]` parameter would be JSON-encoded
  // again by postgres.js, storing a JSON string instead of an object.
  const changed = await sql<{ id: string }[]>`
    with v as (
      select * from unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.score)}::int[], ${rows.map((r) => r.temperature)}::text[],
                           ${rows.map((r) => r.classifier)}::text[], ${rows.map((r) => JSON.stringify(r.reasons))}::text[])
        with ordinality as v(id, score, temperature, classifier, reasons, ord)
    ), changed as (
      update leads l set
        ai_score = v.score, ai_temperature = v.temperature, ai_classifier = v.classifier,
        ai_reasons = v.reasons::jsonb, ai_classified_at = now(), updated_at = now(), version = l.version + 1
      from v
      where l.id = v.id and l.ai_classified_at is null
      returning l.id, v.score, v.temperature, v.classifier, v.reasons, v.ord
    ), classified as (
      insert into interactions (lead_id, type, actor_type, data)
      select id, 'classified', 'system',
             jsonb_build_object('score', score, 'temperature', temperature, 'classifier', classifier) || reasons::jsonb
      from changed order by ord
    )
    select id from changed order by ord`;
  return changed.map((r) => r.id);
}

/** Uses `leads_unclassified_idx` (migration 004). */
/**
 * Claims the given unclassified leads for one instance's classification for `seconds` (a claim of
 * an instance that died expires); answers the ids claimed here. Another instance's live claim, or
 * a lead already classified, is left out.
 */
export async function claimClassification(sql: Queryable, ids: string[], by: string, seconds: number): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await sql<{ lead_id: string }[]>`
    insert into lead_classification_claims (lead_id, claimed_by, until)
    select l.id, ${by}, now() + make_interval(secs => ${seconds})
    from leads l where l.id = any(${ids}::uuid[]) and l.ai_classified_at is null
    on conflict (lead_id) do update set claimed_by = excluded.claimed_by, until = excluded.until
      where lead_classification_claims.until < now() or lead_classification_claims.claimed_by = excluded.claimed_by
    returning lead_id`;
  return rows.map((r) => r.lead_id);
}

/** Drops the claims once their leads are classified (or the attempt failed: another may try). */
export async function releaseClassification(sql: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`delete from lead_classification_claims where lead_id = any(${ids}::uuid[])`;
}

export async function leadsNeedingClassification(sql: Queryable, limit: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from leads where ai_classified_at is null order by created_at, id limit ${limit}`;
  return rows.map((r) => r.id);
}

export interface VersionedUpdate {
  id: string;
  version: number;
  status?: LeadStatus | undefined;
  consultantId?: string | null | undefined;
  closing?: boolean;
  reopening?: boolean;
}

/**
 * Optimistic update: applies only when `version` still matches. Returns the new row, or undefined
 * on a stale version (the caller tells 404 from 409 by looking the lead up).
 */
export async function updateLeadVersioned(sql: Queryable, u: VersionedUpdate): Promise<LeadRow | undefined> {
  const [row] = await sql<{ id: string }[]>`
    update leads set
      status = coalesce(${u.status ?? null}, status),
      consultant_id = case when ${u.consultantId !== undefined} then ${u.consultantId ?? null}::uuid else consultant_id end,
      assigned_at = case when ${u.consultantId !== undefined} then now() else assigned_at end,
      closed_at = case when ${!!u.closing} then now() when ${!!u.reopening} then null else closed_at end,
      version = version + 1,
      updated_at = now()
    where id = ${u.id} and version = ${u.version}
    returning id`;
  return row ? findLead(sql, row.id) : undefined;
}

export async function adjustOpenLeads(sql: Queryable, consultantId: string, delta: number): Promise<void> {
  await sql`update consultants set open_leads = greatest(0, open_leads + ${delta}) where id = ${consultantId}`;
}

/**
 * Recounts `consultants.open_leads` from the leads themselves, for the given consultants (all when
 * none are given), and returns those whose count had drifted. Run inside a transaction: it takes
 * the assignment lock and the consultants' rows first, so the count (a later statement, a later
 * snapshot) sees every committed change, and a change still in flight applies its delta after
 * our absolute value. Counts with `leads_open_by_consultant_idx` (migration 004).
 */
export async function reconcileOpenLeads(sql: Queryable, consultantIds?: string[]): Promise<string[]> {
  const ids = consultantIds ?? null;
  await lockAssignment(sql);
  await sql`select id from consultants where (${ids}::uuid[] is null or id = any(${ids}::uuid[])) order by id for update`;
  const rows = await sql<{ id: string }[]>`
    update consultants c set open_leads = x.n
    from (
      select c2.id, (select count(*)::int from leads l
                     where l.consultant_id = c2.id and l.status in ('NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL')) as n
      from consultants c2 where (${ids}::uuid[] is null or c2.id = any(${ids}::uuid[]))
    ) x
    where c.id = x.id and c.open_leads <> x.n
    returning c.id`;
  return rows.map((r) => r.id);
}

/** Serializes assignment across processes for the length of one transaction. */
const ASSIGNMENT_LOCK_KEY = 0x61737367; // "assg"

export async function lockAssignment(sql: Queryable): Promise<void> {
  await sql`select pg_advisory_xact_lock(${ASSIGNMENT_LOCK_KEY})`;
}

/**
 * One assignment round in one statement, in autocommit (one round trip, one commit): it takes the
 * assignment lock, locks the eligible consultants, then the oldest waiting leads (classified,
 * unassigned, still NEW; a lead a user's change holds right now is skipped and waits for the next
 * round), and assigns them round-robin, writing each lead, each consultant's workload and rotation
 * time, an `assigned` interaction and a numbered notification per lead.
 *
 * The rotation is `assignInOrder`'s (src/domain/assignment.ts; test/assignment-sql.test.ts
 * compares the two): consultants in order of last assignment (never first), then lighter
 * workload, then who joined first; each round of the rotation gives one lead to each consultant
 * with room left, so consultant `p` (0-based in that order) takes its `j`-th lead at slot (j, p),
 * and the leads, oldest first, fill the slots in that order. Each assignment gets a distinct,
 * increasing time after every candidate's last one.
 *
 * Snapshot: the statement's snapshot is taken before it waits for its locks, so what it reads is
 * rechecked where it counts. The consultants and the leads are read `for update`, which in READ
 * COMMITTED re-reads a row changed since the snapshot and checks the conditions again on its
 * newest version (a lead a manager closed meanwhile drops out; a consultant's count is current).
 * The consultants are locked first (the leads' read waits on them), so a lead closed while the
 * round waits for a consultant is seen closed. The lock order (advisory lock, consultants by id)
 * is `reconcileOpenLeads`'s.
 *
 * `onlineIds`: with presence required, only these consultants take leads (null: no such rule).
 * Returns what changed, oldest lead first, with the notification each assignment created.
 */
export async function assignWaitingLeads(
  sql: Queryable,
  o: { limit: number; onlineIds: string[] | null },
): Promise<{ leadId: string; consultantId: string; lead: LeadRow; notification: NotificationRow | undefined }[]> {
  type Done = LeadRow & NotificationColumns & { ord: string };
  const done = await sql<Done[]>`
    with lk as (
      select pg_advisory_xact_lock(${ASSIGNMENT_LOCK_KEY}), true as held
    ), ${candidates(sql, o.onlineIds)}, waiting as materialized (
      -- Only once every candidate is locked (the count reads them all); with none, no lead is read.
      select id, created_at from leads
      where consultant_id is null and status = 'NEW' and ai_classified_at is not null
        and (select count(*) from cand) > 0
      order by created_at, id
      limit ${o.limit}
      for update skip locked
    ), queue as (
      select id, row_number() over (order by created_at, id) as n from waiting
    ), ${roundRobin(sql)}, done as (
      update leads l set consultant_id = v.consultant_id, assigned_at = v.at, version = l.version + 1, updated_at = now()
      from v
      -- Each row is locked since the waiting CTE checked it, on its newest version: still NEW and
      -- unassigned. (Conditions on the row here would steer the plan to the unassigned-leads index
      -- and a scan of v per lead; by key it is one lookup per lead.)
      where l.id = v.lead_id
      returning l.*, v.ord
    ), assigned as (
      insert into interactions (lead_id, type, actor_type, data)
      select id, 'assigned', 'system', jsonb_build_object('consultant_id', consultant_id, 'by', 'round_robin')
      from done order by ord
    ), ${assignedTail(sql)}
    select d.*, c.name as consultant_name,
           n.id as n_id, n.seq as n_seq, n.type as n_type, n.title as n_title, n.body as n_body, n.created_at as n_created_at
    from done d
    join consultants c on c.id = d.consultant_id
    left join notified n on n.lead_id = d.id
    order by d.ord`;
  return done.map(({ ord: _ord, n_id, n_seq, n_type, n_title, n_body, n_created_at, ...lead }) => ({
    leadId: lead.id,
    consultantId: lead.consultant_id!,
    lead,
    notification: notificationOf({ n_id, n_seq, n_type, n_title, n_body, n_created_at }, lead.id, lead.consultant_id!),
  }));
}

/** Who may take leads now (with `onlineIds`, only those; null: no presence rule). */
const eligible = (sql: Queryable, onlineIds: string[] | null) => sql`role = 'CONSULTANT' and active and open_leads < max_open_leads
        and (${onlineIds}::uuid[] is null or id = any(${onlineIds}::uuid[]))`;

/**
 * The consultants who may take leads, locked in id order (CTE `cand`), once CTE `lk` says the
 * assignment lock is held; none otherwise. `skipLocked`: a consultant another transaction holds
 * is left out instead of waited for.
 */
const candidates = (sql: Queryable, onlineIds: string[] | null, o: { skipLocked?: boolean } = {}) => sql`cand as materialized (
      select id, open_leads, max_open_leads, last_assigned_at, created_at from consultants
      where ${eligible(sql, onlineIds)}
        and exists (select 1 from lk where held)
      order by id
      for update${o.skipLocked ? sql` skip locked` : sql``}
    )`;

/**
 * The rotation over `cand` for the leads of CTE `queue` (id, n: 1-based, oldest first): CTE `v`
 * (lead_id, consultant_id, at, ord), one distinct, increasing time per lead after every
 * candidate's last assignment.
 */
const roundRobin = (sql: Queryable) => sql`ranked as (
      select id, max_open_leads - open_leads as room,
             row_number() over (order by last_assigned_at asc nulls first, open_leads, created_at, id) as p
      from cand
    ), slots as (
      select r.id as consultant_id, row_number() over (order by j, r.p) as n
      from ranked r cross join lateral generate_series(0, least(r.room, (select count(*) from queue)) - 1) as j
    ), clock as (
      select greatest(clock_timestamp(), (select max(last_assigned_at) from cand) + interval '1 millisecond') as t0
    ), v as materialized (
      -- Materialized: computed once, then each lead is looked up by its key.
      select q.id as lead_id, s.consultant_id, (select t0 from clock) + (q.n - 1) * interval '1 millisecond' as at, q.n as ord
      from queue q join slots s on s.n = q.n
    )`;

/**
 * After CTE `done` (the leads just assigned: id, name, consultant_id, assigned_at, ord): each
 * consultant's workload and rotation time, and a notification per lead, numbered per recipient
 * (CTE `notified`).
 */
const assignedTail = (sql: Queryable) => sql`workload as (
      update consultants c set open_leads = c.open_leads + w.n, last_assigned_at = greatest(c.last_assigned_at, w.last_at)
      from (select consultant_id, count(*)::int as n, max(assigned_at) as last_at from done group by consultant_id) w
      where c.id = w.consultant_id
    ), counters as (
      -- Each recipient's notification numbers for this batch, reserved at once (migration 004's
      -- counter, whose row lock orders the recipient's commits).
      insert into notification_counters as c (recipient_id, last_seq)
      select consultant_id, count(*) from done group by consultant_id
      on conflict (recipient_id) do update set last_seq = c.last_seq + excluded.last_seq
      returning recipient_id, last_seq
    ), numbered as (
      select d.*, k.last_seq - count(*) over w + row_number() over (w order by d.ord) as seq
      from done d join counters k on k.recipient_id = d.consultant_id
      window w as (partition by d.consultant_id)
    ), notified as (
      insert into notifications (recipient_id, type, title, body, lead_id, dedupe_key, seq)
      select consultant_id, 'lead_assigned', 'Novo lead atribuído', name, id, 'assigned:' || id, seq
      from numbered order by ord
      on conflict do nothing
      returning id, seq, lead_id, type, title, body, created_at
    )`;

/** Active consultants (with presence required, the caller keeps those online). */
export async function activeConsultantIds(sql: Queryable): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`select id from consultants where role = 'CONSULTANT' and active and open_leads < max_open_leads`;
  return rows.map((r) => r.id);
}

/** Locks the lead's row for the rest of the transaction (manual updates serialize per lead). */
export async function lockLead(
  sql: Queryable,
  id: string,
): Promise<{ id: string; name: string; status: LeadStatus; consultant_id: string | null; version: number } | undefined> {
  const [row] = await sql<{ id: string; name: string; status: LeadStatus; consultant_id: string | null; version: number }[]>`
    select id, name, status, consultant_id, version from leads where id = ${id} for update`;
  return row;
}

export async function findActiveConsultant(sql: Queryable, id: string): Promise<{ id: string; name: string } | undefined> {
  const [row] = await sql<{ id: string; name: string }[]>`select id, name from consultants where id = ${id} and active`;
  return row;
}
