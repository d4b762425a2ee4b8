/**
 * What follows a change to a user (created, role, activation, capacity, password): their cached
 * session check is dropped, their actor learns the new state, and waiting leads may flow.
 */
import type { Consultant } from '../db/consultants.ts';
import { CONSULTANT } from '../actors/consultant.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import { userRoom } from '../http/socket.ts';
import type { Hub } from './hub.ts';

export function onConsultantChanged(d: { system: ActorSystem; hub: Hub; invalidate(id: string): void }) {
  return async (c: Consultant) => {
    d.invalidate(c.id);
    // A deactivated user loses access at once: their open sockets too, not just new requests.
    if (!c.active) d.hub.io?.in(userRoom(c.id)).disconnectSockets(true);
    await d.system.send(CONSULTANT, c.id, { type: c.active ? 'consultant.activated' : 'consultant.deactivated' });
    await d.system.send(CONSULTANT, c.id, {
      type: 'workload.synced',
      openLeads: c.open_leads,
      maxOpenLeads: c.max_open_leads,
      lastAssignedAt: c.last_assigned_at?.toISOString() ?? null,
    });
    // Activation or more capacity may let waiting leads through.
    void d.hub.pipeline?.requestAssignment();
  };
}
