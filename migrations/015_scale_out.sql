-- Scale-out (issue 14): several instances on one database.

-- @socket.io/postgres-adapter: events too large for a NOTIFY payload travel through this table
-- (each instance deletes rows older than 30 s).
create table socket_io_attachments (
  id          bigserial primary key,
  created_at  timestamptz default now(),
  payload     bytea
);

-- rate-limiter-flexible's RateLimiterPostgres: request limits and the login throttle, shared by
-- every instance. `expire` is epoch milliseconds; expired rows are pruned by the limiters.
create table rate_limits (
  key     varchar(255) primary key,
  points  integer not null default 0,
  expire  bigint
);
create index rate_limits_expire_idx on rate_limits (expire);

-- A lead's slow (LLM) classification is claimed by one instance at a time; a claim past `until`
-- (its instance died) can be taken again.
create table lead_classification_claims (
  lead_id     uuid primary key references leads (id) on delete cascade,
  claimed_by  text not null,
  until       timestamptz not null
);
