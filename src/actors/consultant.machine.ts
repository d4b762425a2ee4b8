/**
 * One actor per consultant: presence (from their Socket.io connections), whether an admin has
 * them active, and their workload. Round-robin assignment reads it; it names effects
 * (`consultant.presenceChanged`, `consultant.eligibilityChanged`) that the runtime performs.
 *
 * Pure: no I/O here. Effects are provided by name where the actor system is composed.
 *
 * @example
 * const [s] = initialTransition(consultantMachine, { consultantId: 'c1' });
 * const [online] = transition(consultantMachine, s, { type: 'presence.connected', socketId: 'a' });
 * online.matches({ presence: 'online' }) // => true
 */
import { assign, setup } from 'xstate';

export const CONSULTANT_MACHINE_VERSION = 1;

export interface ConsultantContext {
  consultantId: string;
  /** Ids of the Socket.io connections open right now; online while there is at least one. */
  sockets: string[];
  openLeads: number;
  maxOpenLeads: number;
  lastAssignedAt: string | null;
}

export type ConsultantEvent =
  | { type: 'presence.connected'; socketId: string }
  | { type: 'presence.disconnected'; socketId: string }
  | { type: 'presence.away' }
  | { type: 'presence.back' }
  /** After a restart no socket survives: everyone starts offline. */
  | { type: 'presence.reset' }
  | { type: 'consultant.activated' }
  | { type: 'consultant.deactivated' }
  | { type: 'workload.synced'; openLeads: number; maxOpenLeads: number; lastAssignedAt: string | null }
  | { type: 'lead.assigned'; leadId: string; at: string }
  | { type: 'lead.released'; leadId: string };

export const consultantMachine = setup({
  types: {
    context: {} as ConsultantContext,
    events: {} as ConsultantEvent,
    input: {} as { consultantId: string },
  },
  actions: {
    'consultant.presenceChanged': (_, _params: { consultantId: string; online: boolean; away: boolean }) => {},
    'consultant.eligibilityChanged': (_, _params: { consultantId: string }) => {},
  },
  guards: {
    lastSocketClosing: ({ context, event }) =>
      event.type === 'presence.disconnected' && context.sockets.filter((s) => s !== event.socketId).length === 0,
    hasCapacity: ({ context }) => context.openLeads < context.maxOpenLeads,
  },
}).createMachine({
  id: 'consultant',
  type: 'parallel',
  context: ({ input }) => ({
    // Without input in the throwaway actor xstate's transition() builds per event: no exception.
    consultantId: input?.consultantId ?? '',
    sockets: [],
    openLeads: 0,
    maxOpenLeads: 0,
    lastAssignedAt: null,
  }),
  on: {
    // The database is the source of truth for workload (assignment updates it under a lock);
    // the actor mirrors it for inspection and for presence-aware decisions.
    'workload.synced': {
      actions: assign({
        openLeads: ({ event }) => event.openLeads,
        maxOpenLeads: ({ event }) => event.maxOpenLeads,
        lastAssignedAt: ({ event }) => event.lastAssignedAt,
      }),
    },
    'lead.assigned': {
      actions: assign({
        openLeads: ({ context }) => context.openLeads + 1,
        lastAssignedAt: ({ event }) => event.at,
      }),
    },
    'lead.released': {
      actions: [
        assign({ openLeads: ({ context }) => Math.max(0, context.openLeads - 1) }),
        { type: 'consultant.eligibilityChanged', params: ({ context }) => ({ consultantId: context.consultantId }) },
      ],
    },
  },
  states: {
    presence: {
      initial: 'offline',
      states: {
        offline: {
          entry: { type: 'consultant.presenceChanged', params: ({ context }) => ({ consultantId: context.consultantId, online: false, away: false }) },
          on: {
            'presence.connected': {
              target: 'online',
              actions: assign({ sockets: ({ event }) => [event.socketId] }),
            },
          },
        },
        online: {
          initial: 'available',
          entry: { type: 'consultant.presenceChanged', params: ({ context }) => ({ consultantId: context.consultantId, online: true, away: false }) },
          on: {
            'presence.connected': {
              actions: assign({ sockets: ({ context, event }) => [...context.sockets.filter((s) => s !== event.socketId), event.socketId] }),
            },
            'presence.disconnected': [
              { guard: 'lastSocketClosing', target: 'offline', actions: assign({ sockets: [] }) },
              { actions: assign({ sockets: ({ context, event }) => context.sockets.filter((s) => s !== event.socketId) }) },
            ],
            'presence.reset': { target: 'offline', actions: assign({ sockets: [] }) },
          },
          states: {
            available: { on: { 'presence.away': 'away' } },
            away: {
              entry: { type: 'consultant.presenceChanged', params: ({ context }) => ({ consultantId: context.consultantId, online: true, away: true }) },
              on: { 'presence.back': 'available' },
            },
          },
        },
      },
    },
    status: {
      initial: 'active',
      states: {
        active: {
          on: {
            'consultant.deactivated': {
              target: 'inactive',
              actions: { type: 'consultant.eligibilityChanged', params: ({ context }) => ({ consultantId: context.consultantId }) },
            },
          },
        },
        inactive: {
          on: {
            'consultant.activated': {
              target: 'active',
              actions: { type: 'consultant.eligibilityChanged', params: ({ context }) => ({ consultantId: context.consultantId }) },
            },
          },
        },
      },
    },
  },
});

/** Online right now, in the persisted or live snapshot's terms. */
export function isOnline(snapshot: { matches(v: unknown): boolean } | undefined): boolean {
  return !!snapshot?.matches({ presence: 'online' });
}
