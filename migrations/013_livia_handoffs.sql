-- Lívia's hand-offs that updated an existing open lead (issue 12): one row per hand-off effect,
-- written in the transaction of the update, so a hand-off repeated after a crash finds it and
-- neither appends the conversation's summary nor notifies the consultant a second time.
-- (A hand-off that created a lead is found by the lead's idempotency key instead.)
create table livia_handoffs (
  effect_key  text primary key,
  lead_id     uuid not null references leads (id),
  created_at  timestamptz not null default now()
);
create index livia_handoffs_lead_idx on livia_handoffs (lead_id);
