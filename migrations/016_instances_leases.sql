-- Several instances on one database (issue 14): who is alive, and who owns what.

-- Each running process beats here. `boot` changes at every start, so a restarted instance with the
-- same INSTANCE_ID is told apart from its previous life (whose sockets died with it).
create table instances (
  id text primary key,
  boot text not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  expires_at timestamptz not null
);

-- One row per owned thing (a WhatsApp session, the consultant actors). `epoch` grows at every change
-- of owner: a write fenced by (owner, epoch) fails once the lease has passed to someone else.
create table leases (
  name text primary key,
  owner text not null,
  boot text not null,
  epoch bigint not null,
  acquired_at timestamptz not null default now(),
  expires_at timestamptz not null
);

-- Who ran an effect, under which lease epoch (a deposed owner's claim fails).
alter table actor_outbox add column claimed_by text, add column claim_epoch bigint;

-- Which instance holds each consultant's socket: when an instance dies, the consultant actors'
-- home drops the sockets it held (and no instance wipes the others' at boot).
create table presence_sockets (
  socket_id text primary key,
  user_id uuid not null,
  instance_id text not null,
  boot text not null,
  connected_at timestamptz not null default now()
);
create index presence_sockets_user_idx on presence_sockets (user_id);
