/**
 * Picks the auth store of `WHATSAPP_AUTH_STORE` for a session.
 *
 * @example
 * const store = createAuthStore({ kind: config.whatsappAuthStore, dir: config.whatsappSessionsDir, sql, session: 'consultant' });
 */
import type { Sql } from '../../db/client.ts';
import type { WhatsAppAuthStore } from './auth-state.ts';
import { createFileAuthStore } from './auth-store-file.ts';
import { createPostgresAuthStore } from './auth-store-postgres.ts';

export type AuthStoreKind = 'file' | 'postgres';

export function createAuthStore(opts: { kind: AuthStoreKind; dir: string; sql: Sql; session: string }): WhatsAppAuthStore {
  return opts.kind === 'postgres'
    ? createPostgresAuthStore({ sql: opts.sql, session: opts.session })
    : createFileAuthStore({ dir: opts.dir, session: opts.session });
}

export { AuthStateCorruptError, isPaired, type WhatsAppAuthStore, type OpenedAuthState } from './auth-state.ts';
