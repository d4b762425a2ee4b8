/**
 * The consultant actor as the runtime runs it: machine, version, input, and the effects it names,
 * whose implementations the composition root provides.
 *
 * @example
 * system.register(consultantActor({ presenceChanged: (p) => io.emit(...), eligibilityChanged: () => {} }));
 */
import type { ActorDefinition } from './runtime.ts';
import { CONSULTANT_MACHINE_VERSION, consultantMachine, isOnline } from './consultant.machine.ts';

export const CONSULTANT = 'consultant';

export interface ConsultantEffects {
  presenceChanged(p: { consultantId: string; online: boolean; away: boolean }): unknown;
  eligibilityChanged(p: { consultantId: string }): unknown;
}

export function consultantActor(effects: ConsultantEffects): ActorDefinition<typeof consultantMachine> {
  return {
    type: CONSULTANT,
    machine: consultantMachine,
    version: CONSULTANT_MACHINE_VERSION,
    input: (id) => ({ consultantId: id }),
    effects: {
      'consultant.presenceChanged': (p) => effects.presenceChanged(p),
      'consultant.eligibilityChanged': (p) => effects.eligibilityChanged(p),
    },
    // An online consultant stays in memory: assignment reads their presence synchronously.
    canPassivate: (snapshot) => !isOnline(snapshot),
  };
}
