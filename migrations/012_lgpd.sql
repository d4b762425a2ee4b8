-- LGPD (issue 12): a customer's data can be erased on request.
--
-- An erased lead is kept, anonymized, so analytics keep their counts: it has neither phone nor
-- email any more, which the lead's original check forbade. `erased_at` says why.
alter table leads add column erased_at timestamptz;
alter table leads drop constraint leads_check;
alter table leads add constraint leads_contact_check check (phone is not null or email is not null or erased_at is not null);

-- The audit trail stays append-only, except inside an erasure's own transaction, which sets
-- `livia.lgpd_erasure` (SET LOCAL) to scrub the entries' data and keep their type and time.
create or replace function interactions_append_only() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and current_setting('livia.lgpd_erasure', true) = 'on' then
    return new;
  end if;
  raise exception 'interactions are append-only';
end;
$$;

-- That an erasure happened, when and by whom, and how many rows it touched: never whose data.
create table customer_erasures (
  id          uuid primary key default gen_random_uuid(),
  erased_by   uuid references consultants (id) on delete set null,
  counts      jsonb not null,
  erased_at   timestamptz not null default now()
);

-- Lívia's funnel (analytics): the furthest stage of INTRO → TRANSFERRED a conversation reached
-- (HUMAN, ABANDONED and OPTED_OUT are where it is, not how far it got), and when it was first
-- transferred. Written by the conversation actor's domain write, with the stage.
alter table conversations
  add column furthest_stage text not null default 'INTRO'
    check (furthest_stage in ('INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED')),
  add column transferred_at timestamptz;
update conversations set furthest_stage = stage where stage in ('QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED');
update conversations set transferred_at = updated_at where stage = 'TRANSFERRED';
