/**
 * The consultant machine on its own: pure `initialTransition` / `transition`, no actor, no I/O.
 * Effects are checked as the named actions (with resolved params) that the runtime would record.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { consultantMachine, isOnline, type ConsultantEvent } from './consultant.machine.ts';

type Action = { type: string; params?: unknown };

const start = (id = 'c1') => initialTransition(consultantMachine, { consultantId: id });

/** Folds events through the machine; returns the last snapshot and the last step's actions. */
function run(events: ConsultantEvent[], id = 'c1'): [AnyMachineSnapshot, Action[]] {
  let [snapshot, actions] = start(id) as [AnyMachineSnapshot, Action[]];
  for (const e of events) [snapshot, actions] = transition(consultantMachine, snapshot as never, e) as [AnyMachineSnapshot, Action[]];
  return [snapshot, actions];
}

const named = (actions: Action[], type: string) => actions.filter((a) => a.type === type).map((a) => a.params);
const presence = (s: AnyMachineSnapshot) => (s.value as { presence: unknown }).presence;
const status = (s: AnyMachineSnapshot) => (s.value as { status: unknown }).status;

describe('consultant machine', () => {
  it('starts offline, active, with an empty workload, and announces itself offline', () => {
    const [s, actions] = start('c1');
    expect(s.value).toEqual({ presence: 'offline', status: 'active' });
    expect(s.context).toEqual({ consultantId: 'c1', sockets: [], openLeads: 0, maxOpenLeads: 0, lastAssignedAt: null });
    expect(named(actions as Action[], 'consultant.presenceChanged')).toEqual([{ consultantId: 'c1', online: false, away: false }]);
    expect(isOnline(s)).toBe(false);
  });

  it('goes online on the first socket and says so once', () => {
    const [s, actions] = run([{ type: 'presence.connected', socketId: 'a' }]);
    expect(presence(s)).toEqual({ online: 'available' });
    expect(isOnline(s)).toBe(true);
    expect(s.context.sockets).toEqual(['a']);
    expect(named(actions, 'consultant.presenceChanged')).toEqual([{ consultantId: 'c1', online: true, away: false }]);
  });

  it('stays online while one of two sockets remains, without announcing anything', () => {
    const [two, onSecond] = run([
      { type: 'presence.connected', socketId: 'a' },
      { type: 'presence.connected', socketId: 'b' },
    ]);
    expect(two.context.sockets).toEqual(['a', 'b']);
    expect(named(onSecond, 'consultant.presenceChanged')).toEqual([]);

    const [one, onFirstClose] = transition(consultantMachine, two as never, { type: 'presence.disconnected', socketId: 'a' });
    expect(isOnline(one)).toBe(true);
    expect(one.context.sockets).toEqual(['b']);
    expect(named(onFirstClose as Action[], 'consultant.presenceChanged')).toEqual([]);

    const [none, onLastClose] = transition(consultantMachine, one, { type: 'presence.disconnected', socketId: 'b' });
    expect(presence(none)).toBe('offline');
    expect(isOnline(none)).toBe(false);
    expect(none.context.sockets).toEqual([]);
    expect(named(onLastClose as Action[], 'consultant.presenceChanged')).toEqual([{ consultantId: 'c1', online: false, away: false }]);
  });

  it('counts a reconnect of the same socket id once', () => {
    const [s] = run([
      { type: 'presence.connected', socketId: 'a' },
      { type: 'presence.connected', socketId: 'a' },
      { type: 'presence.disconnected', socketId: 'a' },
    ]);
    expect(isOnline(s)).toBe(false);
  });

  it('ignores the disconnect of a socket it never saw while offline', () => {
    const [s, actions] = run([{ type: 'presence.disconnected', socketId: 'ghost' }]);
    expect(presence(s)).toBe('offline');
    expect(actions).toEqual([]);
  });

  it('goes away and comes back while online', () => {
    const [away, onAway] = run([{ type: 'presence.connected', socketId: 'a' }, { type: 'presence.away' }]);
    expect(presence(away)).toEqual({ online: 'away' });
    expect(isOnline(away)).toBe(true);
    expect(named(onAway, 'consultant.presenceChanged')).toEqual([{ consultantId: 'c1', online: true, away: true }]);

    const [back] = transition(consultantMachine, away as never, { type: 'presence.back' });
    expect(presence(back)).toEqual({ online: 'available' });

    // Away while offline means nothing.
    const [offline, none] = run([{ type: 'presence.away' }]);
    expect(presence(offline)).toBe('offline');
    expect(none).toEqual([]);
  });

  it('drops every socket and goes offline on presence.reset (no socket survives a restart)', () => {
    const [s, actions] = run([
      { type: 'presence.connected', socketId: 'a' },
      { type: 'presence.connected', socketId: 'b' },
      { type: 'presence.away' },
      { type: 'presence.reset' },
    ]);
    expect(presence(s)).toBe('offline');
    expect(s.context.sockets).toEqual([]);
    expect(named(actions, 'consultant.presenceChanged')).toEqual([{ consultantId: 'c1', online: false, away: false }]);
  });

  it('is deactivated and activated by the admin, naming eligibilityChanged each time', () => {
    const [inactive, onDeactivate] = run([{ type: 'consultant.deactivated' }], 'c7');
    expect(status(inactive)).toBe('inactive');
    expect(named(onDeactivate, 'consultant.eligibilityChanged')).toEqual([{ consultantId: 'c7' }]);

    const [again, repeat] = transition(consultantMachine, inactive as never, { type: 'consultant.deactivated' });
    expect(status(again)).toBe('inactive');
    expect(repeat).toEqual([]);

    const [active, onActivate] = transition(consultantMachine, inactive as never, { type: 'consultant.activated' });
    expect(status(active)).toBe('active');
    expect(named(onActivate as Action[], 'consultant.eligibilityChanged')).toEqual([{ consultantId: 'c7' }]);
    // Presence and status are independent regions.
    expect(presence(active)).toBe('offline');
  });

  it('mirrors its workload from workload.synced and tracks lead.assigned / lead.released', () => {
    const [synced, onSync] = run([{ type: 'workload.synced', openLeads: 2, maxOpenLeads: 5, lastAssignedAt: '2024-01-01T00:00:00.000Z' }]);
    expect(synced.context).toMatchObject({ openLeads: 2, maxOpenLeads: 5, lastAssignedAt: '2024-01-01T00:00:00.000Z' });
    // The database owns the workload; syncing the mirror announces nothing.
    expect(named(onSync, 'consultant.eligibilityChanged')).toEqual([]);

    const [assigned, onAssign] = transition(consultantMachine, synced as never, { type: 'lead.assigned', leadId: 'l1', at: '2024-02-02T10:00:00.000Z' });
    expect(assigned.context).toMatchObject({ openLeads: 3, maxOpenLeads: 5, lastAssignedAt: '2024-02-02T10:00:00.000Z' });
    expect(named(onAssign as Action[], 'consultant.eligibilityChanged')).toEqual([]);

    const [released, onRelease] = transition(consultantMachine, assigned, { type: 'lead.released', leadId: 'l1' });
    expect(released.context).toMatchObject({ openLeads: 2, lastAssignedAt: '2024-02-02T10:00:00.000Z' });
    expect(named(onRelease as Action[], 'consultant.eligibilityChanged')).toEqual([{ consultantId: 'c1' }]);
  });

  it('never counts open leads below zero', () => {
    const [s] = run([{ type: 'lead.released', leadId: 'x' }, { type: 'lead.released', leadId: 'y' }]);
    expect(s.context.openLeads).toBe(0);
  });

  it('does not mutate the snapshot it is given', () => {
    const [s0] = start();
    const before = JSON.stringify(consultantMachine.getPersistedSnapshot(s0));
    transition(consultantMachine, s0, { type: 'presence.connected', socketId: 'a' });
    transition(consultantMachine, s0, { type: 'workload.synced', openLeads: 9, maxOpenLeads: 9, lastAssignedAt: null });
    expect(JSON.stringify(consultantMachine.getPersistedSnapshot(s0))).toBe(before);
  });

  it('round-trips through its persisted snapshot', () => {
    const [s] = run([{ type: 'presence.connected', socketId: 'a' }, { type: 'presence.away' }, { type: 'consultant.deactivated' }]);
    const persisted = JSON.parse(JSON.stringify(consultantMachine.getPersistedSnapshot(s)));
    const restored = consultantMachine.resolveState(persisted);
    expect(restored.value).toEqual(s.value);
    expect(restored.context).toEqual(s.context);
    const [next] = transition(consultantMachine, restored, { type: 'presence.disconnected', socketId: 'a' });
    expect(presence(next)).toBe('offline');
    expect(status(next)).toBe('inactive');
  });

  it('exports its definition as JSON', () => {
    const def = consultantMachine.toJSON();
    const json = JSON.stringify(def);
    const back = JSON.parse(json);
    // Stable: what a client receives serializes to the same text again (no cycles, no lost keys).
    expect(JSON.stringify(back)).toBe(json);
    expect(back.id).toBe('consultant');
    expect(back.type).toBe('parallel');
    expect(Object.keys(back.states)).toEqual(['presence', 'status']);
    expect(Object.keys(back.states.presence.states)).toEqual(['offline', 'online']);
    expect(json).toContain('presence.connected');
    expect(json).toContain('consultant.presenceChanged');
  });
});
