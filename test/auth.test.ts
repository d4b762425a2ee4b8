/**
 * Sign-in and sessions against a real server: login, timing parity for unknown emails, failed-login
 * throttling, and every way a bearer token can be wrong.
 *
 * Failed logins are also throttled per client IP (20 per 15 min). So that the tests here do not
 * add up against one shared IP, the throttling tests send from their own loopback addresses
 * (127.0.0.x all reach a server listening on 127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

type ErrorBody = { error: { code: string; message: string; details?: unknown } };

let s: TestServer;
let adminToken: string;
let adminId: string;
let key: Uint8Array;

/** A consultant created through the API; returns its id. */
async function createUser(email: string, password: string, role = 'CONSULTANT'): Promise<string> {
  const res = await s.api('/api/consultants', { token: adminToken, body: { name: email.split('@')[0], email, password, role } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** POST /api/auth/login from a chosen loopback source address. */
function loginFrom(localAddress: string, email: string, password: string) {
  const payload = JSON.stringify({ email, password });
  const url = new URL('/api/auth/login', s.url);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: ErrorBody & { token?: string } }>(
    (resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          localAddress,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    },
  );
}

async function me(token: string | undefined) {
  const res = await s.api('/api/auth/me', token === undefined ? {} : { token });
  return { res, body: (await res.json()) as ErrorBody & { id?: string } };
}

function signWith(secret: string | Uint8Array, claims: { sub: string; role?: string }, opts: { iss?: string; aud?: string; exp?: number } = {}) {
  const k = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: claims.role ?? 'ADMIN', name: 'x', ver: 1 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setJti(randomUUID())
    .setIssuer(opts.iss ?? 'livia')
    .setAudience(opts.aud ?? 'livia')
    .setIssuedAt(now - 7200)
    .setExpirationTime(opts.exp ?? now + 3600)
    .sign(k);
}

beforeAll(async () => {
  s = await startTestServer();
  adminToken = await s.login();
  adminId = decodeJwt(adminToken).sub!;
  key = new TextEncoder().encode(s.server.config.jwtSecret);
});

describe('POST /api/auth/login', () => {
  it('signs in with the right password: a token and the user', async () => {
    const res = await s.api('/api/auth/login', { body: { email: s.admin.email, password: s.admin.password } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; user: Record<string, unknown> };
    expect(body.user).toEqual({ id: adminId, name: s.admin.name, email: s.admin.email, role: 'ADMIN' });
    expect(body.user).not.toHaveProperty('password_hash');
    expect(body.token.split('.')).toHaveLength(3);
    const claims = decodeJwt(body.token);
    expect(claims).toMatchObject({ sub: adminId, role: 'ADMIN', iss: 'livia', aud: 'livia' });
    expect(claims.exp).toBeGreaterThan(Date.now() / 1000);
    // The token works.
    const { res: meRes, body: meBody } = await me(body.token);
    expect(meRes.status).toBe(200);
    expect(meBody).toMatchObject({ id: adminId, role: 'ADMIN', email: s.admin.email });
  });

  it('accepts the email in any case and with surrounding spaces', async () => {
    const res = await s.api('/api/auth/login', { body: { email: `  ${s.admin.email.toUpperCase()} `, password: s.admin.password } });
    expect(res.status).toBe(200);
  });

  it('wrong password is 401 invalid_credentials; an unknown email gets the very same body', async () => {
    await createUser('wrongpw@livia.test', 'right-password-1');
    const wrong = await loginFrom('127.0.0.2', 'wrongpw@livia.test', 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    expect(wrong.body).not.toHaveProperty('token');

    const unknown = await loginFrom('127.0.0.2', 'nobody@livia.test', 'not-the-password');
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it('an unknown email costs about as much time as a wrong password (bcrypt runs either way)', async () => {
    await createUser('timing@livia.test', 'right-password-1');
    const wrongMs: number[] = [];
    const unknownMs: number[] = [];
    const timed = async (email: string, into: number[]) => {
      const t = performance.now();
      const r = await loginFrom('127.0.0.3', email, 'not-the-password');
      into.push(performance.now() - t);
      expect(r.status).toBe(401);
    };
    // Interleaved, so load from other test files hits both sides alike.
    for (let i = 0; i < 3; i++) {
      await timed('timing@livia.test', wrongMs);
      await timed(`unknown-${i}@livia.test`, unknownMs);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
    expect(median(unknownMs) / median(wrongMs)).toBeGreaterThan(0.3);
  });

  it('after 5 failed logins for an email from one address the 6th from there is 429 with Retry-After, even with the right password', async () => {
    await createUser('throttled@livia.test', 'right-password-1');
    // Case variants are the same email, and count together.
    for (const email of ['throttled@livia.test', 'THROTTLED@livia.test', 'throttled@livia.test', 'Throttled@Livia.test', 'throttled@livia.test']) {
      const r = await loginFrom('127.0.0.4', email, 'not-the-password');
      expect(r.status).toBe(401);
    }
    const sixth = await loginFrom('127.0.0.4', 'throttled@livia.test', 'right-password-1');
    expect(sixth.status).toBe(429);
    expect(sixth.body.error.code).toBe('rate_limited');
    expect(sixth.body).not.toHaveProperty('token');
    const retryAfter = Number(sixth.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);

    // Other people on the same address still get in.
    await createUser('neighbour@livia.test', 'right-password-1');
    const neighbour = await loginFrom('127.0.0.4', 'neighbour@livia.test', 'right-password-1');
    expect(neighbour.status).toBe(200);
  });

  it('parallel wrong passwords from one address stay within the limit, and the real user still signs in from another address', async () => {
    await createUser('target@livia.test', 'right-password-1');
    // All 20 are in flight together, while bcrypt runs for the first ones: each takes its point
    // before the compare, so no more than 5 are compared.
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => loginFrom('127.0.0.20', 'target@livia.test', `guess-${i}-wrong`)));
    const statuses = guesses.map((g) => g.status);
    expect(statuses.filter((x) => x === 401)).toHaveLength(5);
    expect(statuses.filter((x) => x === 429)).toHaveLength(15);
    // The attacker's address stays locked for this email, even with the right password...
    expect((await loginFrom('127.0.0.20', 'target@livia.test', 'right-password-1')).status).toBe(429);
    // ...and the real user, elsewhere, is not locked out.
    const real = await loginFrom('127.0.0.21', 'target@livia.test', 'right-password-1');
    expect(real.status).toBe(200);
    expect(real.body.token).toBeDefined();
  });

  it('a successful login resets the failure count for that email', async () => {
    await createUser('forgetful@livia.test', 'right-password-1');
    // 3 + 3 failures: more than 5 in all, so only the reset in between keeps the account open.
    for (let i = 0; i < 3; i++) expect((await loginFrom('127.0.0.6', 'forgetful@livia.test', 'nope-nope')).status).toBe(401);
    expect((await loginFrom('127.0.0.6', 'forgetful@livia.test', 'right-password-1')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await loginFrom('127.0.0.6', 'forgetful@livia.test', 'nope-nope')).status).toBe(401);
    expect((await loginFrom('127.0.0.6', 'forgetful@livia.test', 'right-password-1')).status).toBe(200);
  });

  it('many addresses guessing one account hit the looser per-email limit (50), from every address', async () => {
    await createUser('popular@livia.test', 'right-password-1');
    // 10 addresses × 5 wrong guesses: each stays within its own (email, address) and address limits.
    for (let a = 0; a < 10; a++) {
      const rs = await Promise.all([0, 1, 2, 3, 4].map((i) => loginFrom(`127.0.1.${a + 1}`, 'popular@livia.test', `wrong-${a}-${i}`)));
      expect(rs.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);
    }
    const fresh = await loginFrom('127.0.1.99', 'popular@livia.test', 'right-password-1');
    expect(fresh.status).toBe(429);
    expect(fresh.headers['retry-after']).toBeDefined();
  });

  it('20 failed logins from one address lock that address out, whatever the email', async () => {
    const results = [];
    for (let i = 0; i < 20; i += 5) {
      results.push(
        ...(await Promise.all(
          [0, 1, 2, 3, 4].map((j) => loginFrom('127.0.0.7', `spray-${i + j}@livia.test`, 'password123')),
        )),
      );
    }
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(401));
    const next = await loginFrom('127.0.0.7', s.admin.email, s.admin.password);
    expect(next.status).toBe(429);
    expect(next.headers['retry-after']).toBeDefined();
    // Another address is unaffected.
    expect((await loginFrom('127.0.0.8', s.admin.email, s.admin.password)).status).toBe(200);
  });
});

describe('bearer tokens', () => {
  it('missing token → 401 with WWW-Authenticate: Bearer', async () => {
    const { res, body } = await me(undefined);
    expect(res.status).toBe(401);
    expect(body.error.code).toBe('unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('a malformed Authorization header → 401', async () => {
    for (const authorization of ['Bearer', 'Basic YWRtaW46YWRtaW4=', `Token ${adminToken}`, 'Bearer not.a.jwt']) {
      const res = await s.api('/api/auth/me', { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
    }
  });

  it('a token signed with the server secret and the right claims is accepted (control for the cases below)', async () => {
    const token = await signWith(key, { sub: adminId });
    expect((await me(token)).res.status).toBe(200);
  });

  it('expired token → 401 token_expired', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signWith(key, { sub: adminId }, { exp: now - 60 });
    const { res, body } = await me(token);
    expect(res.status).toBe(401);
    expect(body.error.code).toBe('token_expired');
  });

  it('tampered token (payload changed, signature kept) → 401', async () => {
    const consultantId = await createUser('tamper@livia.test', 'right-password-1');
    const token = await s.login('tamper@livia.test', 'right-password-1');
    expect(decodeJwt(token).sub).toBe(consultantId);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, role: 'ADMIN' })).toString('base64url');
    const { res, body } = await me(`${header}.${forged}.${signature}`);
    expect(res.status).toBe(401);
    expect(body.error.code).toBe('unauthorized');
    // And the forged role grants nothing.
    const list = await s.api('/api/consultants', { token: `${header}.${forged}.${signature}` });
    expect(list.status).toBe(401);
  });

  it('token signed with another secret → 401', async () => {
    const token = await signWith('another-secret-that-is-long-enough-1234', { sub: adminId });
    const { res, body } = await me(token);
    expect(res.status).toBe(401);
    expect(body.error.code).toBe('unauthorized');
  });

  it('unsigned (alg none) token → 401', async () => {
    const token = new UnsecuredJWT({ role: 'ADMIN' }).setSubject(adminId).setIssuer('livia').setAudience('livia').setExpirationTime('1h').encode();
    expect((await me(token)).res.status).toBe(401);
  });

  it('right secret but wrong issuer or audience → 401', async () => {
    expect((await me(await signWith(key, { sub: adminId }, { iss: 'someone-else' }))).res.status).toBe(401);
    expect((await me(await signWith(key, { sub: adminId }, { aud: 'someone-else' }))).res.status).toBe(401);
  });

  it('a validly signed token for a user that does not exist → 401', async () => {
    const token = await signWith(key, { sub: '00000000-0000-4000-8000-000000000000' });
    expect((await me(token)).res.status).toBe(401);
  });

  it('a CONSULTANT token on GET /api/consultants → 403', async () => {
    await createUser('plain@livia.test', 'right-password-1');
    const token = await s.login('plain@livia.test', 'right-password-1');
    expect((await me(token)).res.status).toBe(200);
    const res = await s.api('/api/consultants', { token });
    expect(res.status).toBe(403);
    expect(((await res.json()) as ErrorBody).error.code).toBe('forbidden');
  });

  it("a deactivated user's token stops working at once, and they cannot sign in again", async () => {
    const id = await createUser('leaving@livia.test', 'right-password-1');
    const token = await s.login('leaving@livia.test', 'right-password-1');
    expect((await me(token)).res.status).toBe(200);

    const patch = await s.api(`/api/consultants/${id}`, { method: 'PATCH', token: adminToken, body: { active: false } });
    expect(patch.status).toBe(200);

    const { res, body } = await me(token);
    expect(res.status).toBe(401);
    expect(body.error.code).toBe('unauthorized');
    const again = await loginFrom('127.0.0.9', 'leaving@livia.test', 'right-password-1');
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('invalid_credentials');
  });
});
