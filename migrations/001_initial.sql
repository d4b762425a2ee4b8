-- The seed's data model, in SQL. Statuses, roles and stages are closed sets checked here and
-- mirrored by the zod schemas in src/domain/.

create extension if not exists pgcrypto;

create table consultants (
  id               uuid primary key default gen_random_uuid(),
  name             text not null check (length(name) between 1 and 200),
  email            text not null check (email = lower(email)),
  password_hash    text not null,
  role             text not null default 'CONSULTANT' check (role in ('ADMIN', 'MANAGER', 'CONSULTANT')),
  active           boolean not null default true,
  max_open_leads   integer not null default 20 check (max_open_leads >= 0),
  open_leads       integer not null default 0 check (open_leads >= 0),
  last_assigned_at timestamptz,
  phone            text,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now()
);
create unique index consultants_email_key on consultants (email);

create table leads (
  id                uuid primary key default gen_random_uuid(),
  name              text not null,
  phone             text,
  email             text,
  source            text not null default 'site',
  external_id       text,
  idempotency_key   text unique,
  message           text,
  requested_amount  numeric(14, 2),
  monthly_income    numeric(14, 2),
  status            text not null default 'NEW'
                    check (status in ('NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON', 'LOST')),
  ai_score          integer check (ai_score between 0 and 100),
  ai_temperature    text check (ai_temperature in ('HOT', 'WARM', 'COLD')),
  ai_classifier     text check (ai_classifier in ('groq', 'rules')),
  ai_reasons        jsonb,
  ai_classified_at  timestamptz,
  consultant_id     uuid references consultants (id),
  assigned_at       timestamptz,
  metadata          jsonb not null default '{}'::jsonb,
  version           integer not null default 1,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  closed_at         timestamptz,
  check (phone is not null or email is not null)
);
create unique index leads_source_external_id_key on leads (source, external_id) where external_id is not null;
create index leads_consultant_id_idx on leads (consultant_id, created_at desc, id desc);
create index leads_status_idx on leads (status, created_at desc, id desc);
create index leads_created_at_idx on leads (created_at desc, id desc);
create index leads_phone_idx on leads (phone);
create index leads_unassigned_idx on leads (created_at, id) where consultant_id is null and status = 'NEW';

-- Lívia's conversations with customers on her own WhatsApp number.
create table conversations (
  id           uuid primary key default gen_random_uuid(),
  phone        text not null unique,
  lead_id      uuid references leads (id),
  stage        text not null default 'INTRO'
               check (stage in ('INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED',
                                'HUMAN', 'ABANDONED', 'OPTED_OUT')),
  data         jsonb not null default '{}'::jsonb,
  taken_by     uuid references consultants (id),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);
create index conversations_stage_idx on conversations (stage, updated_at desc);

create table conversation_messages (
  id               bigint generated always as identity primary key,
  conversation_id  uuid not null references conversations (id),
  role             text not null check (role in ('customer', 'livia', 'consultant')),
  text             text not null,
  wa_message_id    text,
  created_at       timestamptz not null default now()
);
create unique index conversation_messages_wa_id_key on conversation_messages (wa_message_id) where wa_message_id is not null;
create index conversation_messages_conversation_idx on conversation_messages (conversation_id, id);

-- Chats on the WhatsApp numbers (the consultants' shared number, and Lívia's).
create table whatsapp_conversations (
  id               uuid primary key default gen_random_uuid(),
  session          text not null check (session in ('consultant', 'livia')),
  phone            text not null,
  name             text,
  lead_id          uuid references leads (id),
  unread           integer not null default 0 check (unread >= 0),
  last_message_at  timestamptz,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  unique (session, phone)
);

create table whatsapp_messages (
  id               uuid primary key default gen_random_uuid(),
  conversation_id  uuid not null references whatsapp_conversations (id),
  session          text not null check (session in ('consultant', 'livia')),
  wa_id            text,
  direction        text not null check (direction in ('in', 'out')),
  text             text not null,
  status           text not null default 'pending'
                   check (status in ('pending', 'sent', 'delivered', 'read', 'failed', 'received')),
  sent_by          uuid references consultants (id),
  at               timestamptz not null default now()
);
-- An inbound message is stored once, deduplicated by its WhatsApp id, before anything acts on it.
create unique index whatsapp_messages_wa_id_key on whatsapp_messages (session, wa_id) where wa_id is not null;
create index whatsapp_messages_conversation_idx on whatsapp_messages (conversation_id, at);

-- Append-only audit trail of everything that happens to a lead.
create table interactions (
  id          bigint generated always as identity primary key,
  lead_id     uuid not null references leads (id),
  type        text not null,
  actor_type  text not null check (actor_type in ('user', 'system', 'livia')),
  actor_id    uuid references consultants (id),
  data        jsonb not null default '{}'::jsonb,
  created_at  timestamptz not null default now()
);
create index interactions_lead_idx on interactions (lead_id, id);

create function interactions_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'interactions are append-only';
end;
$$;
create trigger interactions_no_update before update or delete on interactions
  for each row execute function interactions_append_only();

create table notifications (
  id            bigint generated always as identity primary key,
  recipient_id  uuid not null references consultants (id),
  type          text not null,
  title         text not null,
  body          text not null default '',
  lead_id       uuid references leads (id),
  dedupe_key    text,
  read_at       timestamptz,
  created_at    timestamptz not null default now()
);
create index notifications_recipient_idx on notifications (recipient_id, id desc);
create unique index notifications_dedupe_key on notifications (recipient_id, dedupe_key) where dedupe_key is not null;

-- The actor runtime: one snapshot row per actor, and the append-only journal of the events that
-- produced it. `seq` is the actor's own event counter; (type, id, seq) is unique in the journal.
create table actor_snapshots (
  actor_type       text not null,
  actor_id         text not null,
  machine_version  integer not null,
  seq              bigint not null,
  state            text not null,
  snapshot         jsonb not null,
  status           text not null default 'active' check (status in ('active', 'done', 'failed')),
  failure          text,
  updated_at       timestamptz not null default now(),
  primary key (actor_type, actor_id)
);
create index actor_snapshots_state_idx on actor_snapshots (actor_type, state);

create table actor_journal (
  id          bigint generated always as identity primary key,
  actor_type  text not null,
  actor_id    text not null,
  seq         bigint not null,
  event       jsonb not null,
  created_at  timestamptz not null default now(),
  unique (actor_type, actor_id, seq)
);

-- Effects a machine named, recorded in the snapshot's transaction and run after the commit, at
-- least once; handlers are idempotent on the effect id.
create table actor_outbox (
  id          uuid primary key,
  actor_type  text not null,
  actor_id    text not null,
  seq         bigint not null,
  position    integer not null,
  effect      jsonb not null,
  attempts    integer not null default 0,
  last_error  text,
  run_after   timestamptz not null default now(),
  done_at     timestamptz,
  created_at  timestamptz not null default now()
);
create index actor_outbox_pending_idx on actor_outbox (run_after) where done_at is null;

-- Durable timers: a row per armed timer, and a pg-boss job (startAfter) that delivers it. A
-- cancelled or re-armed timer loses its row, so its job finds nothing and does nothing.
create table actor_timers (
  id          uuid primary key,
  actor_type  text not null,
  actor_id    text not null,
  key         text not null,
  event       jsonb not null,
  due_at      timestamptz not null,
  created_at  timestamptz not null default now(),
  unique (actor_type, actor_id, key)
);
