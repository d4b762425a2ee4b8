-- An admin may discard a dead-lettered effect (issue: a dead letter held back its actor's later
-- effects forever). A discarded effect is finished without having run: done_at is set so it no
-- longer blocks, and the row keeps who discarded it and when (pruning keeps it as long as the
-- journal), next to its attempts and last error.
alter table actor_outbox add column discarded_at timestamptz, add column discarded_by text;

-- conversation:updated on a lead's reassignment finds the lead's conversations.
create index conversations_lead_idx on conversations (lead_id) where lead_id is not null;
