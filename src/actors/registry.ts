/**
 * What `register()` checks before a machine may run: every construct it uses must be one the
 * runtime can run durably, and every effect name must meet its handler (and every handler a name).
 *
 * Supported: assign, raise (a delayed raise or an `after` delay becomes a durable timer), cancel,
 * log, enqueueActions (its actions are checked again when they come out of `transition()`), guards,
 * named effects with a handler. Refused: invoke, spawnChild, stopChild, sendTo / sendParent, emit,
 * inline function actions, an `after` delay named but not defined in `setup({ delays })`.
 *
 * @example
 * validateDefinition(def); // throws UnsupportedMachineError('machine "counter", state "counter.waiting": ...')
 */
import type { AnyStateMachine } from 'xstate';
import { effectSpec, UnsupportedMachineError, type ActorDefinition } from './types.ts';

/** XState built-in action types the runtime performs itself. */
export const SUPPORTED_BUILTINS = new Set(['xstate.assign', 'xstate.raise', 'xstate.cancel', 'xstate.log', 'xstate.enqueueActions']);

const REFUSED_BUILTINS: Record<string, string> = {
  'xstate.sendTo': 'sendTo (another actor) is not durable: send through the actor system, or raise to self',
  'xstate.spawnChild': 'spawnChild is not durable: register the child as its own actor type',
  'xstate.stopChild': 'stopChild has no child to stop: children are not supported',
  'xstate.emit': 'emit is not durable: name an effect instead and give it a handler',
};

interface StateNodeLike {
  id: string;
  states: Record<string, StateNodeLike>;
  entry: unknown[];
  exit: unknown[];
  invoke: { src: unknown; id?: string }[];
  transitions: Map<string, { actions: unknown[]; delay?: unknown; eventType: string }[]>;
  always?: { actions: unknown[] }[];
}

type Builtin = { type: string; resolve?: unknown };

function isBuiltin(a: unknown): a is Builtin {
  const b = a as unknown as Builtin;
  return typeof a === 'function' && typeof b.type === 'string' && typeof b.resolve === 'function';
}

/** Throws UnsupportedMachineError naming machine, state and action on the first construct it cannot run. */
export function validateDefinition(def: ActorDefinition): void {
  const machine = def.machine as AnyStateMachine;
  const impls = (machine.implementations?.actions ?? {}) as Record<string, unknown>;
  const delays = (machine.implementations?.delays ?? {}) as Record<string, unknown>;
  const effects = def.effects ?? {};
  const used = new Set<string>();
  const fail = (state: string, what: string): never => {
    throw new UnsupportedMachineError(`machine "${machine.id}" (actor type ${def.type}), state "${state}": ${what}`);
  };

  const checkAction = (state: string, a: unknown): void => {
    if (isBuiltin(a)) {
      const refused = REFUSED_BUILTINS[a.type];
      if (refused) fail(state, `action ${a.type}: ${refused}`);
      if (!SUPPORTED_BUILTINS.has(a.type)) fail(state, `action ${a.type} is not supported`);
      return;
    }
    if (typeof a === 'function') fail(state, 'an inline function action: name it in setup({ actions }) and give it an effect handler');
    const name = typeof a === 'string' ? a : (a as { type?: unknown })?.type;
    if (typeof name !== 'string') fail(state, `an action the runtime cannot read: ${String(a)}`);
    const impl = impls[name as string];
    if (isBuiltin(impl)) return checkAction(state, impl);
    if (!effects[name as string]) fail(state, `action "${name as string}" has no effect handler`);
    used.add(name as string);
  };

  const visit = (node: StateNodeLike): void => {
    for (const inv of node.invoke ?? []) {
      const src = typeof inv.src === 'string' ? inv.src : (inv.id ?? 'inline');
      fail(node.id, `invoke of "${src}" is not durable: model the work as an effect and its result as an event`);
    }
    for (const a of node.entry ?? []) checkAction(node.id, a);
    for (const a of node.exit ?? []) checkAction(node.id, a);
    for (const list of node.transitions?.values() ?? []) {
      for (const t of list) {
        if (typeof t.delay === 'string' && delays[t.delay] === undefined) {
          fail(node.id, `after delay "${t.delay}" is not defined in setup({ delays })`);
        }
        for (const a of t.actions ?? []) checkAction(node.id, a);
      }
    }
    for (const t of node.always ?? []) for (const a of t.actions ?? []) checkAction(node.id, a);
    for (const child of Object.values(node.states ?? {})) visit(child);
  };
  visit(machine.root as unknown as StateNodeLike);

  for (const name of Object.keys(effects)) {
    if (!used.has(name)) fail(machine.id, `effect handler "${name}" has no action of that name in the machine`);
    effectSpec(effects[name]!);
  }
}
