/**
 * What follows a change to a user (created, role, activation, capacity, password): a revoking
 * change ends their sessions and closes their sockets and SSE streams at once (a demoted manager
 * leaves the managers' room with the socket); the actor learns the new state; waiting leads may
 * flow.
 */
import type { Consultant } from '../db/consultants.ts';
import { CONSULTANT } from '../actors/consultant.ts';
import { OwnerUnavailableError } from '../actors/types.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import type { Sessions } from '../services/sessions.ts';
import type { Hub } from './hub.ts';

export function onConsultantChanged(d: { system: ActorSystem; hub: Hub; sessions: Sessions }) {
  return async (c: Consultant, opts: { revoked: boolean }) => {
    d.sessions.userChanged(c.id, opts);
    // Syncs of what the database says (committed already): right whenever they arrive. With the
    // actor's home slow to answer they stay queued for it, and the change still succeeds.
    const queued = (err: unknown) => {
      if (!(err instanceof OwnerUnavailableError)) throw err;
    };
    // Both at once (independent facts): a slow home costs one bounded wait, under the request deadline.
    const activation = d.system.send(CONSULTANT, c.id, { type: c.active ? 'consultant.activated' : 'consultant.deactivated' }, { durable: true }).catch(queued);
    const workload = {
      type: 'workload.synced',
      openLeads: c.open_leads,
      maxOpenLeads: c.max_open_leads,
      lastAssignedAt: c.last_assigned_at?.toISOString() ?? null,
    };
    await Promise.all([activation, d.system.send(CONSULTANT, c.id, workload, { durable: true }).catch(queued)]);
    // Recount their open leads; activation or more capacity may let waiting leads through.
    void d.hub.pipeline?.consultantChanged(c.id);
  };
}
