/**
 * Team management through the real API: who may create, list and change whom.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

type ErrorBody = { error: { code: string; message: string; details?: { path: string; message: string }[] } };
interface Consultant {
  id: string;
  name: string;
  email: string;
  role: string;
  active: boolean;
  max_open_leads: number;
  open_leads: number;
  online: boolean;
}

const CONTRACT_FIELDS = ['id', 'name', 'email', 'role', 'active', 'max_open_leads', 'open_leads', 'online'];

let s: TestServer;
let adminToken: string;
let manager: Consultant;
let consultant: Consultant;
let managerToken: string;
let consultantToken: string;

async function create(token: string, body: Record<string, unknown>) {
  const res = await s.api('/api/consultants', { token, body });
  return { status: res.status, body: (await res.json()) as Consultant & ErrorBody };
}

async function patch(token: string, id: string, body: unknown) {
  const res = await s.api(`/api/consultants/${id}`, { method: 'PATCH', token, body });
  return { status: res.status, body: (await res.json()) as Consultant & ErrorBody };
}

async function list(token: string) {
  const res = await s.api('/api/consultants', { token });
  return { status: res.status, body: (await res.json()) as Consultant[] & ErrorBody };
}

beforeAll(async () => {
  s = await startTestServer();
  adminToken = await s.login();
});

describe('POST /api/consultants', () => {
  it('an admin creates a MANAGER and a CONSULTANT: 201 with the contract fields', async () => {
    const m = await create(adminToken, { name: 'Marta Gerente', email: 'marta@livia.test', password: 'manager-pass-1', role: 'MANAGER' });
    expect(m.status).toBe(201);
    for (const field of CONTRACT_FIELDS) expect(m.body, field).toHaveProperty(field);
    expect(m.body).toMatchObject({
      name: 'Marta Gerente',
      email: 'marta@livia.test',
      role: 'MANAGER',
      active: true,
      open_leads: 0,
      online: false,
    });
    expect(m.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.body).not.toHaveProperty('password');
    expect(m.body).not.toHaveProperty('password_hash');
    manager = m.body;

    const c = await create(adminToken, {
      name: 'Carlos Consultor',
      email: '  Carlos@Livia.TEST ',
      password: 'consultant-pass-1',
      role: 'CONSULTANT',
      max_open_leads: 7,
    });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ name: 'Carlos Consultor', email: 'carlos@livia.test', role: 'CONSULTANT', active: true, max_open_leads: 7, open_leads: 0, online: false });
    consultant = c.body;

    managerToken = await s.login('marta@livia.test', 'manager-pass-1');
    consultantToken = await s.login('carlos@livia.test', 'consultant-pass-1');
  });

  it('role defaults to CONSULTANT and active can be set at creation', async () => {
    const c = await create(adminToken, { name: 'Dora', email: 'dora@livia.test', password: 'dora-pass-123', active: false });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ role: 'CONSULTANT', active: false });
  });

  it('a duplicate email is 409, whatever its case', async () => {
    for (const email of ['marta@livia.test', 'MARTA@livia.test']) {
      const dup = await create(adminToken, { name: 'Outra Marta', email, password: 'another-pass-1', role: 'CONSULTANT' });
      expect(dup.status, email).toBe(409);
      expect(dup.body.error.code).toBe('email_taken');
    }
    // The first one is untouched.
    const all = await list(adminToken);
    expect(all.body.filter((c) => c.email === 'marta@livia.test')).toEqual([expect.objectContaining({ name: 'Marta Gerente', role: 'MANAGER' })]);
  });

  it('a manager creates consultants but not a MANAGER or an ADMIN (403)', async () => {
    const ok = await create(managerToken, { name: 'Eva', email: 'eva@livia.test', password: 'eva-pass-1234', role: 'CONSULTANT' });
    expect(ok.status).toBe(201);
    const m2 = await create(managerToken, { name: 'Fabio', email: 'fabio@livia.test', password: 'fabio-pass-123', role: 'MANAGER' });
    expect(m2.status).toBe(403);

    const admin = await create(managerToken, { name: 'Gil', email: 'gil@livia.test', password: 'gil-pass-1234', role: 'ADMIN' });
    expect(admin.status).toBe(403);
    expect(admin.body.error.code).toBe('forbidden');
    expect((await list(adminToken)).body.some((c) => c.email === 'gil@livia.test')).toBe(false);
  });

  it('an admin may create another ADMIN', async () => {
    const a = await create(adminToken, { name: 'Helena', email: 'helena@livia.test', password: 'helena-pass-1', role: 'ADMIN' });
    expect(a.status).toBe(201);
    expect(a.body.role).toBe('ADMIN');
  });

  it('an invalid body is 422 with details [{path, message}] for each field', async () => {
    const bad = await create(adminToken, { name: '', email: 'not-an-email', password: 'short', role: 'BOSS', max_open_leads: -1 });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('validation_failed');
    const details = bad.body.error.details!;
    for (const d of details) {
      expect(Object.keys(d).sort()).toEqual(['message', 'path']);
      expect(typeof d.message).toBe('string');
    }
    expect(details.map((d) => d.path).sort()).toEqual(['email', 'max_open_leads', 'name', 'password', 'role']);

    const missing = await create(adminToken, { name: 'Ivo' });
    expect(missing.status).toBe(422);
    expect(missing.body.error.details!.map((d) => d.path).sort()).toEqual(['email', 'password']);
  });
});

describe('GET /api/consultants', () => {
  it('lists everyone with the contract fields and no password hash', async () => {
    for (const token of [adminToken, managerToken]) {
      const all = await list(token);
      expect(all.status).toBe(200);
      const emails = all.body.map((c) => c.email);
      expect(emails).toEqual(expect.arrayContaining([s.admin.email, 'marta@livia.test', 'carlos@livia.test', 'dora@livia.test']));
      for (const c of all.body) {
        for (const field of CONTRACT_FIELDS) expect(c, field).toHaveProperty(field);
        expect(c).not.toHaveProperty('password_hash');
      }
      expect(all.body.find((c) => c.id === consultant.id)).toMatchObject({ max_open_leads: 7, online: false });
    }
  });
});

describe('PATCH /api/consultants/:id', () => {
  it('changes name, max_open_leads and active, and nothing else', async () => {
    const p = await patch(adminToken, consultant.id, { name: 'Carlos Souza', max_open_leads: 12 });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ id: consultant.id, name: 'Carlos Souza', max_open_leads: 12, email: 'carlos@livia.test', role: 'CONSULTANT', active: true });

    const off = await patch(managerToken, consultant.id, { active: false });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ name: 'Carlos Souza', max_open_leads: 12, active: false });

    const on = await patch(managerToken, consultant.id, { active: true });
    expect(on.body.active).toBe(true);

    // The list shows what was saved.
    const row = (await list(adminToken)).body.find((c) => c.id === consultant.id);
    expect(row).toMatchObject({ name: 'Carlos Souza', max_open_leads: 12, active: true });
  });

  it('a new password works for login and the old one no longer does', async () => {
    const p = await patch(adminToken, consultant.id, { password: 'brand-new-pass-2' });
    expect(p.status).toBe(200);
    expect(p.body).not.toHaveProperty('password');
    const newLogin = await s.api('/api/auth/login', { body: { email: 'carlos@livia.test', password: 'brand-new-pass-2' } });
    expect(newLogin.status).toBe(200);
    const oldLogin = await s.api('/api/auth/login', { body: { email: 'carlos@livia.test', password: 'consultant-pass-1' } });
    expect(oldLogin.status).toBe(401);
    consultantToken = ((await newLogin.json()) as { token: string }).token;
  });

  it('a manager cannot touch an admin nor promote anyone to ADMIN (403)', async () => {
    const adminId = (await list(adminToken)).body.find((c) => c.email === s.admin.email)!.id;
    expect((await patch(managerToken, adminId, { name: 'Renamed' })).status).toBe(403);
    expect((await patch(managerToken, consultant.id, { role: 'ADMIN' })).status).toBe(403);
    const row = (await list(adminToken)).body.find((c) => c.id === consultant.id);
    expect(row!.role).toBe('CONSULTANT');
    // An admin may change a manager.
    expect((await patch(adminToken, manager.id, { max_open_leads: 3 })).status).toBe(200);
  });

  it('a manager cannot change another manager, nor promote a consultant to MANAGER (403)', async () => {
    const peer = await create(adminToken, { name: 'Paulo Gerente', email: 'paulo@livia.test', password: 'paulo-pass-123', role: 'MANAGER' });
    expect(peer.status).toBe(201);
    for (const change of [{ active: false }, { password: 'taken-over-123' }, { name: 'Renamed' }]) {
      const res = await patch(managerToken, peer.body.id, change);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    expect((await patch(managerToken, consultant.id, { role: 'MANAGER' })).status).toBe(403);
    // The peer is untouched and can still sign in with their own password.
    expect(await s.login('paulo@livia.test', 'paulo-pass-123')).toEqual(expect.any(String));
    // Their own name, though, is theirs to change.
    expect((await patch(managerToken, manager.id, { name: 'Marta G.' })).status).toBe(200);
  });

  it('nobody can deactivate or demote themselves (422)', async () => {
    const self = await patch(managerToken, manager.id, { active: false });
    expect(self.status).toBe(422);
    expect(self.body.error.details).toEqual([{ path: 'active', message: expect.any(String) }]);
    expect((await patch(managerToken, manager.id, { role: 'CONSULTANT' })).status).toBe(422);
  });

  it('an unknown id is 404; a malformed id is 422', async () => {
    const unknown = await patch(adminToken, '00000000-0000-4000-8000-000000000000', { name: 'Ghost' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const malformed = await patch(adminToken, 'not-a-uuid', { name: 'Ghost' });
    expect(malformed.status).toBe(422);
    expect(malformed.body.error.details!.map((d) => d.path)).toContain('id');
  });

  it('an invalid patch is 422 with details: unknown fields, empty bodies, bad values', async () => {
    const unknownField = await patch(adminToken, consultant.id, { email: 'changed@livia.test' });
    expect(unknownField.status).toBe(422);
    const empty = await patch(adminToken, consultant.id, {});
    expect(empty.status).toBe(422);
    const bad = await patch(adminToken, consultant.id, { max_open_leads: 'many', password: 'short', active: 'yes' });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details!.map((d) => d.path).sort()).toEqual(['active', 'max_open_leads', 'password']);
    // Nothing changed.
    const row = (await list(adminToken)).body.find((c) => c.id === consultant.id);
    expect(row).toMatchObject({ email: 'carlos@livia.test', max_open_leads: 12, active: true });
  });
});

describe('a CONSULTANT', () => {
  it('cannot list, create or patch (403)', async () => {
    const l = await list(consultantToken);
    expect(l.status).toBe(403);
    expect(l.body.error.code).toBe('forbidden');

    const c = await create(consultantToken, { name: 'Sneaky', email: 'sneaky@livia.test', password: 'sneaky-pass-1', role: 'CONSULTANT' });
    expect(c.status).toBe(403);

    const p = await patch(consultantToken, consultant.id, { max_open_leads: 999 });
    expect(p.status).toBe(403);

    const all = (await list(adminToken)).body;
    expect(all.some((x) => x.email === 'sneaky@livia.test')).toBe(false);
    expect(all.find((x) => x.id === consultant.id)!.max_open_leads).toBe(12);
  });
});

describe('without a token', () => {
  it('every route is 401', async () => {
    expect((await s.api('/api/consultants')).status).toBe(401);
    expect((await s.api('/api/consultants', { body: { name: 'x' } })).status).toBe(401);
    expect((await s.api(`/api/consultants/${consultant.id}`, { method: 'PATCH', body: { name: 'x' } })).status).toBe(401);
  });
});
