-- The WhatsApp simulator as one world for several instances (issue 14): what customers write while
-- the session's socket is in another process waits here for that socket (WhatsApp's servers keep
-- messages for the device that is connected); and each send records which instance's socket sent
-- it, and how many times the same id came in, so tests can see a second socket or a double send.
create table wa_simulator_inbox (
  id bigserial primary key,
  session text not null,
  message jsonb not null,
  media text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz
);
create index wa_simulator_inbox_session on wa_simulator_inbox (session, id);

alter table wa_simulator_sent add column sent_by text, add column sends integer not null default 1,
  add column last_sent_by text, add column last_sent_at timestamptz;
