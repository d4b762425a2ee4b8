-- Issue 8: replay-proof webhooks, notifications in commit order per recipient, indexed reconciles.

-- A webhook signature is accepted once. Rows are kept while the timestamp they were signed at is
-- still inside the 300 s window (`expires_at`), then purged by the pipeline's reconcile. The key
-- starts with the timestamp so the purge is a range scan of the primary key.
create table webhook_signatures (
  signed_at   bigint not null,
  signature   text not null,
  lead_id     uuid not null,
  expires_at  timestamptz not null,
  primary key (signed_at, signature)
);

-- Per-recipient notification sequence. A transaction that creates a notification takes its
-- recipient's counter row (and its lock) until it commits, so a recipient's `seq` values commit in
-- the order they were taken: a stream that has sent `seq` n has every committed one below n.
create table notification_counters (
  recipient_id  uuid primary key references consultants (id),
  last_seq      bigint not null
);

alter table notifications add column seq bigint;
with numbered as (
  select id, row_number() over (partition by recipient_id order by id) as seq from notifications
)
update notifications n set seq = numbered.seq from numbered where n.id = numbered.id;
insert into notification_counters (recipient_id, last_seq)
  select recipient_id, max(seq) from notifications group by recipient_id;
alter table notifications alter column seq set not null;
create unique index notifications_recipient_seq_key on notifications (recipient_id, seq);

-- Every insert takes the next number, whichever code path writes the row. (A row then skipped by
-- ON CONFLICT DO NOTHING leaves a hole in the numbering; readers rely on order, not contiguity.)
-- A statement that inserts many rows may reserve their numbers from the counter itself, in the
-- same transaction, and give `seq`; the trigger does not fire for those.
create function notifications_next_seq() returns trigger language plpgsql as $$
begin
  insert into notification_counters as c (recipient_id, last_seq) values (new.recipient_id, 1)
  on conflict (recipient_id) do update set last_seq = c.last_seq + 1
  returning c.last_seq into new.seq;
  return new;
end;
$$;
create trigger notifications_seq before insert on notifications
  for each row when (new.seq is null) execute function notifications_next_seq();

-- The reconcile looks for unclassified leads every few seconds: only those are in this index.
create index leads_unclassified_idx on leads (created_at, id) where ai_classified_at is null;
-- Open leads per consultant, for reconciling the denormalized `consultants.open_leads`.
create index leads_open_by_consultant_idx on leads (consultant_id)
  where consultant_id is not null and status in ('NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL');
