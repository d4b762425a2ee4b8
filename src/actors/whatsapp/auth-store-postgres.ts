/**
 * Auth state in PostgreSQL (`WHATSAPP_AUTH_STORE=postgres`): a session's creds and keys live in our
 * database, so another instance can take the session over. A creds write is one statement and a
 * key `set()` one transaction, so a crash leaves the old state or the new one.
 *
 * @example
 * const store = createPostgresAuthStore({ sql, session: 'livia' });
 */
import type { Sql } from '../../db/client.ts';
import { readAuthCreds, readAuthKeys, wipeAuthState, writeAuthCreds, writeAuthKeys } from '../../db/whatsapp-auth.ts';
import { makeAuthStore, type AuthBackend, type WhatsAppAuthStore } from './auth-state.ts';

export interface PostgresAuthStoreOptions {
  sql: Sql;
  session: string;
}

export function createPostgresAuthStore({ sql, session }: PostgresAuthStoreOptions): WhatsAppAuthStore {
  const backend: AuthBackend = {
    kind: 'postgres',
    readCreds: () => readAuthCreds(sql, session),
    writeCreds: (text) => writeAuthCreds(sql, session, text),
    readKeys: (type, ids) => readAuthKeys(sql, session, type, ids),
    writeKeys: (writes) => writeAuthKeys(sql, session, writes),
    wipe: () => wipeAuthState(sql, session),
  };
  return makeAuthStore(backend, session);
}
