/**
 * Sessions follow the user. A token is good while its signature and expiry hold, its `ver` equals
 * the user's token version, its `jti` is not revoked, and the user is active. A change to the user
 * that revokes (role, deactivation, password) bumps the version in the same UPDATE; this service
 * then drops the cached check and closes the user's open sockets and SSE streams at once.
 *
 * Logout revokes one token by its `jti` (a denylist row kept until the token would have expired):
 * the JWT stays stateless for every other request, other devices stay signed in, and the
 * denylist stays as small as the logouts of the last TTL. The revoked ids of a user travel with
 * the cached user row, so checking them costs no extra query.
 *
 * @example
 * const session = await sessions.authenticate(token);  // throws ApiError 401
 * await sessions.logout(session);
 * sessions.userChanged(userId, { revoked: true });
 */
import type { Sql } from '../db/client.ts';
import { findSessionUser, pruneRevokedTokens, revokeToken, type SessionUserRow } from '../db/sessions.ts';
import type { AuthUser } from '../domain/users.ts';
import { ApiError } from './errors.ts';
import type { LiveConnections } from './live-connections.ts';
import type { Tokens } from './tokens.ts';
import { cachedUserLookup } from './user-cache.ts';

export interface Session {
  user: AuthUser;
  jti: string;
  expiresAt: Date;
  /** The token's version (`ver`), kept with its live connections. */
  tokenVersion?: number;
}

/** A session change another instance must apply too (its cache, its open connections). */
export type SessionChange = { userId: string; revoked: boolean } | { userId: string; jti: string };

const ended = () => new ApiError(401, 'unauthorized', 'This session has ended; sign in again');

export class Sessions {
  readonly #users;

  /** Tells the other instances (set by the composition root when they share the database). */
  announce: (change: SessionChange) => void = () => {};

  constructor(private readonly d: { sql: Sql; tokens: Tokens; live: LiveConnections; cacheMs?: number }) {
    this.#users = cachedUserLookup<SessionUserRow | undefined>((id) => findSessionUser(d.sql, id), d.cacheMs ?? 5000);
  }

  get live(): LiveConnections {
    return this.d.live;
  }

  issue(user: AuthUser & { token_version: number }): Promise<string> {
    return this.d.tokens.sign({ id: user.id, name: user.name, email: user.email, role: user.role }, user.token_version);
  }

  async authenticate(token: string): Promise<Session> {
    const claims = await this.d.tokens.verify(token);
    const user = await this.#users.lookup(claims.id);
    if (!user || !user.active) throw new ApiError(401, 'unauthorized', 'This account is not active');
    if (claims.ver !== user.token_version || user.revoked.includes(claims.jti)) throw ended();
    return { user: { id: user.id, name: user.name, email: user.email, role: user.role }, jti: claims.jti, expiresAt: claims.expiresAt, tokenVersion: claims.ver };
  }

  /** Revokes this one token; its open connections close. */
  async logout(session: Session): Promise<void> {
    await revokeToken(this.d.sql, { jti: session.jti, consultantId: session.user.id, expiresAt: session.expiresAt });
    this.#users.invalidate(session.user.id);
    this.d.live.closeToken(session.jti);
    this.announce({ userId: session.user.id, jti: session.jti });
  }

  /** After any change to a user; `revoked` when their token version moved. */
  userChanged(userId: string, opts: { revoked: boolean }): void {
    this.#users.invalidate(userId);
    if (opts.revoked) this.d.live.closeUser(userId);
    this.announce({ userId, revoked: opts.revoked });
  }

  /** A change another instance made (already committed): the same, without announcing it again. */
  applyRemote(change: SessionChange): void {
    this.#users.invalidate(change.userId);
    if ('jti' in change) this.d.live.closeToken(change.jti);
    else if (change.revoked) this.d.live.closeUser(change.userId);
  }

  /**
   * After changes from other instances may have been missed (their messages were lost in a
   * database cut): forgets every cached check and rechecks each open connection against the
   * database, closing those whose session has ended. Answers how many it closed.
   */
  async resync(): Promise<number> {
    this.#users.clear();
    let closed = 0;
    for (const userId of this.d.live.users()) {
      const user = await this.#users.lookup(userId);
      closed += this.d.live.closeWhere(
        (c) =>
          c.userId === userId &&
          (!user || !user.active || (c.ver !== undefined && c.ver !== user.token_version) || (c.role !== undefined && c.role !== user.role) || (c.jti !== undefined && user.revoked.includes(c.jti))),
      );
    }
    return closed;
  }

  pruneRevoked(): Promise<number> {
    return pruneRevokedTokens(this.d.sql);
  }
}
