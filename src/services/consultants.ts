/**
 * Team management rules: who may create or change whom, password hashing, and what follows a
 * change (revoked sessions closed, the consultant's actor told, assignment nudged).
 *
 * @example
 * const created = await consultants.create(actingUser, { name, email, password, role: 'CONSULTANT' });
 * const updated = await consultants.update(actingUser, id, { role: 'CONSULTANT' }); // demotion revokes
 */
import type { Sql } from '../db/client.ts';
import { findConsultantById, insertConsultant, listConsultants, updateConsultant, type Consultant } from '../db/consultants.ts';
import { canGrantRole, type Role } from '../domain/roles.ts';
import type { AuthUser } from '../domain/users.ts';
import { ApiError } from './errors.ts';
import { hashPassword } from './passwords.ts';

export interface NewConsultantInput {
  name: string;
  email: string;
  password: string;
  role: Role;
  max_open_leads?: number | undefined;
  active?: boolean | undefined;
}

export interface ConsultantChange {
  name?: string | undefined;
  role?: Role | undefined;
  active?: boolean | undefined;
  max_open_leads?: number | undefined;
  password?: string | undefined;
}

export interface ConsultantServiceDeps {
  sql: Sql;
  /** Told after any change; `revoked` when the user's earlier tokens stopped working. */
  onChanged(c: Consultant, opts: { revoked: boolean }): void | Promise<void>;
}

export class ConsultantService {
  constructor(private readonly d: ConsultantServiceDeps) {}

  list(): Promise<Consultant[]> {
    return listConsultants(this.d.sql);
  }

  async create(actor: AuthUser, b: NewConsultantInput): Promise<Consultant> {
    if (!canGrantRole(actor.role, b.role)) throw new ApiError(403, 'forbidden', 'Managers may only create consultants');
    const created = await insertConsultant(this.d.sql, {
      name: b.name,
      email: b.email,
      passwordHash: await hashPassword(b.password),
      role: b.role,
      maxOpenLeads: b.max_open_leads,
      active: b.active,
    });
    if (!created) throw new ApiError(409, 'email_taken', 'A user with this email already exists');
    await this.d.onChanged(created, { revoked: false });
    return created;
  }

  async update(actor: AuthUser, id: string, b: ConsultantChange): Promise<Consultant> {
    const current = await findConsultantById(this.d.sql, id);
    if (!current) throw new ApiError(404, 'not_found', 'Consultant not found');
    const self = id === actor.id;
    if (self && (b.active === false || (b.role && b.role !== current.role))) {
      throw new ApiError(422, 'validation_failed', 'You cannot deactivate or demote yourself', [
        { path: b.active === false ? 'active' : 'role', message: 'not allowed on your own account' },
      ]);
    }
    // Managers may change consultants only, and only into consultants (their own name and
    // password excepted).
    if (!self && (!canGrantRole(actor.role, current.role) || (b.role && !canGrantRole(actor.role, b.role)))) {
      throw new ApiError(403, 'forbidden', 'Managers may only change consultants');
    }
    const updated = await updateConsultant(this.d.sql, id, {
      name: b.name,
      role: b.role,
      active: b.active,
      maxOpenLeads: b.max_open_leads,
      passwordHash: b.password ? await hashPassword(b.password) : undefined,
    });
    if (!updated) throw new ApiError(404, 'not_found', 'Consultant not found');
    await this.d.onChanged(updated, { revoked: updated.token_version !== current.token_version });
    return updated;
  }
}
