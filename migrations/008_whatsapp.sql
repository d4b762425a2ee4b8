-- WhatsApp (issue 11): chats per session, messages deduplicated by WhatsApp id, media, and the
-- LID ↔ phone mappings WhatsApp gives us (persisted, so one customer stays one chat).

create table wa_chats (
  id              uuid primary key default gen_random_uuid(),
  session         text not null,
  -- The JID we send to: the phone JID when known, else the LID.
  jid             text not null,
  phone           text,
  lid             text,
  name            text,
  lead_id         uuid references leads (id) on delete set null,
  unread          integer not null default 0,
  last_message_at timestamptz,
  created_at      timestamptz not null default now(),
  unique (session, jid)
);
create unique index wa_chats_session_phone on wa_chats (session, phone) where phone is not null;
create unique index wa_chats_session_lid on wa_chats (session, lid) where lid is not null;
create index wa_chats_lead on wa_chats (lead_id);

create table wa_messages (
  id            uuid primary key default gen_random_uuid(),
  chat_id       uuid not null references wa_chats (id) on delete cascade,
  session       text not null,
  -- WhatsApp's message id (for our sends: the id we generated and passed as `messageId`).
  wa_id         text not null,
  direction     text not null check (direction in ('in', 'out')),
  kind          text not null,
  text          text,
  quoted_wa_id  text,
  quoted_text   text,
  edited_at     timestamptz,
  deleted_at    timestamptz,
  status        text not null check (status in ('received', 'read', 'pending', 'sent', 'delivered', 'failed')),
  failure       text,
  -- What we sent (proto.IMessage as JSON), for Baileys' getMessage on a recipient's retry.
  content       jsonb,
  sent_by       uuid references consultants (id) on delete set null,
  at            timestamptz not null,
  created_at    timestamptz not null default now(),
  unique (session, wa_id)
);
create index wa_messages_chat_at on wa_messages (chat_id, at desc, id desc);

create table wa_media (
  id          uuid primary key default gen_random_uuid(),
  -- null while an upload waits for the send that carries it.
  message_id  uuid unique references wa_messages (id) on delete cascade,
  type        text not null,
  mime        text not null,
  file_name   text,
  size        bigint,
  -- stored | too_large | failed
  status      text not null check (status in ('stored', 'too_large', 'failed')),
  failure     text,
  data        bytea,
  created_at  timestamptz not null default now()
);

create table wa_lid_mappings (
  lid         text primary key,
  pn          text not null,
  updated_at  timestamptz not null default now()
);
create index wa_lid_mappings_pn on wa_lid_mappings (pn);

-- The simulator driver's side of the wire (WHATSAPP_DRIVER=simulator): what "WhatsApp" received
-- from us, once per message id like the real service, surviving a restart of our process.
create table wa_simulator_sent (
  session     text not null,
  wa_id       text not null,
  to_jid      text not null,
  text        text,
  content     jsonb not null,
  read_at     timestamptz,
  at          timestamptz not null default now(),
  primary key (session, wa_id)
);
create index wa_simulator_sent_to on wa_simulator_sent (to_jid, at);
