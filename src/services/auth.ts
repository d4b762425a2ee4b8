/**
 * Signing in and out: the throttle takes its point first, the password is compared off the main
 * thread (against a dummy hash when the email is unknown, so both cost the same), and a session
 * token is issued carrying the user's token version.
 *
 * @example
 * const { token, user } = await authService.login(email, password, clientIp);
 * await authService.logout(session);
 */
import type { Sql } from '../db/client.ts';
import { findConsultantByEmail } from '../db/consultants.ts';
import type { AuthUser } from '../domain/users.ts';
import { ApiError } from './errors.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { verifyPassword } from './passwords.ts';
import type { Session, Sessions } from './sessions.ts';

export class AuthService {
  constructor(private readonly d: { sql: Sql; sessions: Sessions; throttle: LoginThrottle }) {}

  async login(email: string, password: string, address: string): Promise<{ token: string; user: AuthUser }> {
    const attempt = await this.d.throttle.begin(email, address);
    const found = await findConsultantByEmail(this.d.sql, email);
    const ok = await verifyPassword(password, found?.password_hash);
    if (!found || !ok || !found.active) throw new ApiError(401, 'invalid_credentials', 'Wrong email or password');
    await attempt.succeeded();
    const user: AuthUser = { id: found.id, name: found.name, email: found.email, role: found.role };
    return { token: await this.d.sessions.issue({ ...user, token_version: found.token_version }), user };
  }

  logout(session: Session): Promise<void> {
    return this.d.sessions.logout(session);
  }
}
