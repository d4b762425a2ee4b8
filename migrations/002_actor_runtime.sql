-- The actor runtime, ready for conversations (issue 7).

-- The state value after each event, so the visualizer can step back through an actor's history.
alter table actor_journal add column state text;
-- Pruning deletes by age, keeping the last events of each actor. The journal is append-only, so
-- its order on disk follows created_at: a BRIN index finds old pages at almost no cost per insert.
create index actor_journal_created_idx on actor_journal using brin (created_at);

-- Effects: run in order per actor; a spent retry budget dead-letters the effect (kept, visible,
-- retryable by an admin) and holds back the later effects of that actor.
alter table actor_outbox add column dead_at timestamptz;
drop index actor_outbox_pending_idx;
create index actor_outbox_pending_idx on actor_outbox (actor_type, actor_id, seq, position) where done_at is null;
create index actor_outbox_done_idx on actor_outbox (done_at) where done_at is not null;
