/**
 * Session tokens: HS256 JWTs (jose) carrying the user id, role, the user's token version (`ver`)
 * and a token id (`jti`) that logout can revoke.
 *
 * @example
 * const tokens = await createTokens({ secret, issuer: 'livia', ttlSeconds: 3600 });
 * const token = await tokens.sign({ id, name, email, role }, 1);
 * const claims = await tokens.verify(token); // { id, role, ver: 1, jti, expiresAt }
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { roleSchema, type Role } from '../domain/roles.ts';
import type { AuthUser } from '../domain/users.ts';
import { ApiError } from './errors.ts';

export interface TokenClaims {
  id: string;
  role: Role;
  /** The user's token version when it was signed. */
  ver: number;
  /** The token's own id, which logout revokes. */
  jti: string;
  expiresAt: Date;
}

export interface Tokens {
  sign(user: AuthUser, tokenVersion: number): Promise<string>;
  /** Throws ApiError 401 on a missing, expired, tampered or foreign token. */
  verify(token: string): Promise<TokenClaims>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function createTokens(opts: { secret: string; issuer: string; ttlSeconds: number }): Promise<Tokens> {
  // Imported once: handing jose raw bytes would import a key on every sign and verify.
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ]);
  return {
    async sign(user, tokenVersion) {
      return new SignJWT({ role: user.role, name: user.name, ver: tokenVersion })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(user.id)
        .setJti(randomUUID())
        .setIssuer(opts.issuer)
        .setAudience(opts.issuer)
        .setIssuedAt()
        .setExpirationTime(`${opts.ttlSeconds}s`)
        .sign(key);
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, { issuer: opts.issuer, audience: opts.issuer, algorithms: ['HS256'] });
        const role = roleSchema.safeParse(payload.role);
        const { sub, ver, jti, exp } = payload;
        // Tokens signed before versions and ids existed are refused: one sign-in again, once.
        if (!sub || !role.success || typeof ver !== 'number' || !Number.isInteger(ver) || !jti || !UUID.test(jti) || exp === undefined) {
          throw new ApiError(401, 'unauthorized', 'Invalid token');
        }
        return { id: sub, role: role.data, ver, jti, expiresAt: new Date(exp * 1000) };
      } catch (err) {
        if (err instanceof ApiError) throw err;
        const expired = err instanceof joseErrors.JWTExpired;
        throw new ApiError(401, expired ? 'token_expired' : 'unauthorized', expired ? 'Token expired' : 'Invalid token');
      }
    },
  };
}
