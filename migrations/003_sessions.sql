-- Sessions follow the user. Every token carries the user's token_version; a role change, a
-- deactivation or a password change bumps it, and older tokens stop working at once.
alter table consultants add column token_version integer not null default 1;

-- Logout revokes one token (by its jti) until it would have expired anyway; other devices stay
-- signed in. Rows past expires_at are pruned.
create table revoked_tokens (
  jti           uuid primary key,
  consultant_id uuid not null references consultants (id) on delete cascade,
  expires_at    timestamptz not null
);
create index revoked_tokens_consultant on revoked_tokens (consultant_id, expires_at);
