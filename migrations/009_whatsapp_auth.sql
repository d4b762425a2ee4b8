-- Baileys auth state in our database (WHATSAPP_AUTH_STORE=postgres), so a session can move
-- between instances. Values are BufferJSON text, opaque to SQL. A key set is one transaction.
create table whatsapp_auth_creds (
  session    text primary key,
  creds      text not null,
  updated_at timestamptz not null default now()
);

create table whatsapp_auth_keys (
  session text not null,
  type    text not null check (type in ('pre-key', 'session', 'sender-key', 'sender-key-memory',
                                        'app-state-sync-key', 'app-state-sync-version', 'lid-mapping',
                                        'device-list', 'tctoken', 'identity-key')),
  id      text not null,
  value   text not null,
  primary key (session, type, id)
);
