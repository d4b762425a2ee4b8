/**
 * Sessions are HS256 JWTs (jose) carrying the user id and role; passwords are bcrypt hashes.
 *
 * @example
 * const auth = createAuth({ secret, issuer: 'livia', ttlSeconds: 3600 });
 * const token = await auth.sign({ id, name, email, role });
 * app.use('/api/leads/*', requireAuth(auth, lookup)); // bearer token or session cookie
 * app.post('/api/consultants', requireRole('ADMIN', 'MANAGER'), handler);
 */
import bcrypt from 'bcryptjs';
import type { MiddlewareHandler } from 'hono';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { roleSchema, type Role } from '../domain/roles.ts';
import { isSafeMethod, isSameOrigin } from './csrf.ts';
import { ApiError } from './errors.ts';
import { sessionCookie } from './session-cookie.ts';
import type { AppEnv, AuthUser } from './types.ts';

/** bcrypt cost 2^11: about 150 ms per check in bcryptjs here, slow enough for offline guessing. */
export const BCRYPT_COST = 11;

export function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  return bcrypt.hash(password, cost);
}

export interface Auth {
  /** How long a signed token lives; the session cookie lives as long. */
  readonly ttlSeconds: number;
  sign(user: AuthUser): Promise<string>;
  /** Throws ApiError 401 on a missing, expired, tampered or foreign token. */
  verify(token: string): Promise<{ id: string; role: Role }>;
  /**
   * Compares against the real hash, or against a dummy one when the user does not exist, so a
   * login for an unknown email costs the same time as a wrong password.
   */
  checkPassword(password: string, hash: string | undefined): Promise<boolean>;
}

export async function createAuth(opts: { secret: string; issuer: string; ttlSeconds: number }): Promise<Auth> {
  // Imported once: handing jose raw bytes would import a key on every sign and verify.
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
  const dummyHash = await bcrypt.hash('not-a-real-password', BCRYPT_COST);
  return {
    ttlSeconds: opts.ttlSeconds,
    async sign(user) {
      return new SignJWT({ role: user.role, name: user.name })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(user.id)
        .setIssuer(opts.issuer)
        .setAudience(opts.issuer)
        .setIssuedAt()
        .setExpirationTime(`${opts.ttlSeconds}s`)
        .sign(key);
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          issuer: opts.issuer,
          audience: opts.issuer,
          algorithms: ['HS256'],
        });
        const role = roleSchema.safeParse(payload.role);
        if (!payload.sub || !role.success) throw new ApiError(401, 'unauthorized', 'Invalid token');
        return { id: payload.sub, role: role.data };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        const expired = err instanceof joseErrors.JWTExpired;
        throw new ApiError(401, expired ? 'token_expired' : 'unauthorized', expired ? 'Token expired' : 'Invalid token');
      }
    },
    async checkPassword(password, hash) {
      const ok = await bcrypt.compare(password, hash ?? dummyHash);
      return ok && hash !== undefined;
    },
  };
}

/** Loads the current user; a deleted or deactivated user loses access at once, token or not. */
export type UserLookup = (id: string) => Promise<(AuthUser & { active: boolean }) | undefined>;

export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  return m?.[1];
}

/**
 * Authenticates with `Authorization: Bearer` (API clients) or, failing that, the web app's session
 * cookie, which also serves EventSource and page loads. A cookie-authenticated mutation must come
 * from this origin or `opts.allowedOrigins` (see csrf.ts).
 */
export function requireAuth(auth: Auth, lookup: UserLookup, opts: { allowedOrigins?: readonly string[] } = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const bearer = bearerToken(c.req.header('authorization'));
    const cookie = bearer === undefined ? sessionCookie(c.req.header('cookie')) : undefined;
    const token = bearer ?? cookie;
    if (!token) throw new ApiError(401, 'unauthorized', 'Sign in first', undefined, { 'WWW-Authenticate': 'Bearer' });
    const site = { origin: c.req.header('origin'), host: c.req.header('host'), secFetchSite: c.req.header('sec-fetch-site') };
    if (cookie !== undefined && !isSafeMethod(c.req.method) && !isSameOrigin(site, opts.allowedOrigins)) {
      throw new ApiError(403, 'csrf_rejected', 'A request with the session cookie must come from the web app');
    }
    const claims = await auth.verify(token);
    const user = await lookup(claims.id);
    if (!user || !user.active) throw new ApiError(401, 'unauthorized', 'This account is not active');
    c.set('user', { id: user.id, name: user.name, email: user.email, role: user.role });
    c.set('log', c.var.log.child({ userId: user.id }));
    await next();
  };
}

export function requireRole(...roles: Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (!roles.includes(c.var.user.role)) throw new ApiError(403, 'forbidden', 'Your role may not do this');
    await next();
  };
}
