/**
 * A machine's JSON (XState v5 `machine.toJSON()`, as `GET /api/machines` returns it) turned into a
 * statechart graph to draw: the state tree (compound, parallel, atomic, final), and one edge per
 * transition with a target, labelled with its event (or `after DELAY` for a named delay), and its
 * guards. Transitions with no target (actions only, or a guard that stops the event) stay with
 * their state as labelled lines, so every transition of the machine is on the chart.
 * Pure: no layout here (see ./statechart-layout.ts), no I/O.
 *
 * @example
 * const chart = toStatechart(machine.toJSON());
 * chart.edges.find((e) => e.source === 'conversation.INTRO.collecting') // => { label: 'after BURST', target: 'conversation.INTRO.thinking', … }
 * chart.edges.find((e) => e.source === 'conversation.QUALIFICATION.thinking')?.lines // => ['brain.decided', '[turnLeadsTo(QUALIFICATION, INTRO)]']
 */

/** The parts of XState's state node definition the chart reads. */
export interface StateNodeJson {
  id: string;
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  initial?: { target?: string[] } | undefined;
  states?: Record<string, StateNodeJson>;
  on?: Record<string, TransitionJson[]>;
  /** Eventless transitions, when a definition carries them. */
  always?: TransitionJson[];
}

export interface TransitionJson {
  target?: string[] | undefined;
  guard?: string | { type: string; params?: unknown } | undefined;
  delay?: string | number | undefined;
  eventType: string;
}

export interface ChartState {
  id: string;
  key: string;
  type: StateNodeJson['type'];
  /** This state is its parent's initial state. */
  initial: boolean;
  children: ChartState[];
  /** Transitions that stay here (no target): `message.received [duplicate]`. */
  internal: string[];
}

export interface ChartEdge {
  id: string;
  source: string;
  target: string;
  event: string;
  /** The named delay of an `after` transition. */
  delay?: string;
  guards: string[];
  /** What the chart prints beside the arrow: the event (or `after DELAY`) and its guards. */
  label: string;
  /** The label as drawn: the event on the first line, then one guard a line. */
  lines: string[];
}

export interface Statechart {
  root: ChartState;
  edges: ChartEdge[];
}

const AFTER = 'xstate.after.';

/** `{ type: 'turnLeadsTo', params: { to: 'SIMULATION', more: true } }` → `turnLeadsTo(SIMULATION, more)`. */
export function guardLabel(guard: TransitionJson['guard']): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  const params = guard.params && typeof guard.params === 'object' ? Object.entries(guard.params as Record<string, unknown>) : [];
  if (params.length === 0) return guard.type;
  // Values only (names for flags that are on), to keep labels short enough to lay out.
  const shown = params
    .filter(([, v]) => v !== false && v !== undefined && v !== null)
    .map(([k, v]) => (v === true ? k : typeof v === 'object' ? JSON.stringify(v) : String(v)));
  return `${guard.type}(${shown.join(', ')})`;
}

/** `after BURST`, `message.received`, or `(always)`. */
export function eventLabel(t: TransitionJson): string {
  if (t.delay !== undefined || t.eventType.startsWith(AFTER)) {
    const delay = t.delay ?? t.eventType.slice(AFTER.length).split('.')[0];
    return typeof delay === 'number' ? `after ${delay}ms` : `after ${delay}`;
  }
  return t.eventType === '' ? '(always)' : t.eventType;
}

const stripHash = (target: string) => (target.startsWith('#') ? target.slice(1) : target);

export function toStatechart(machine: StateNodeJson): Statechart {
  const merged = new Map<string, ChartEdge>();

  const visit = (node: StateNodeJson, initial: boolean): ChartState => {
    const initialTargets = new Set((node.initial?.target ?? []).map(stripHash));
    const internal: string[] = [];
    const transitions = [...Object.values(node.on ?? {}).flat(), ...(node.always ?? []).map((t) => ({ ...t, eventType: '' }))];
    for (const t of transitions) {
      const event = eventLabel(t);
      const guard = guardLabel(t.guard);
      const targets = (t.target ?? []).map(stripHash);
      if (targets.length === 0) {
        internal.push(guard ? `${event} [${guard}]` : event);
        continue;
      }
      for (const target of targets) {
        // Several guarded branches of one event to one target are one arrow with every guard.
        const key = `${node.id}→${target}:${event}`;
        const edge = merged.get(key);
        if (edge) {
          if (guard) edge.guards.push(guard);
          continue;
        }
        merged.set(key, {
          id: `e${merged.size}`,
          source: node.id,
          target,
          event: t.eventType,
          ...(t.delay !== undefined || t.eventType.startsWith(AFTER) ? { delay: event.slice('after '.length) } : {}),
          guards: guard ? [guard] : [],
          label: event,
          lines: [],
        });
      }
    }
    return {
      id: node.id,
      key: node.key,
      type: node.type,
      initial,
      internal: [...new Set(internal)],
      children: Object.values(node.states ?? {}).map((child) => visit(child, initialTargets.has(child.id))),
    };
  };

  const root = visit(machine, true);
  const edges = [...merged.values()].map((e) => ({
    ...e,
    label: e.guards.length > 0 ? `${e.label} [${e.guards.join(' | ')}]` : e.label,
    lines: [e.label, ...e.guards.map((g) => `[${g}]`)],
  }));
  return { root, edges };
}

/** Every state of the chart, depth first. */
export function allStates(root: ChartState): ChartState[] {
  return [root, ...root.children.flatMap(allStates)];
}

/**
 * The state ids a persisted state string lights: `'presence.online.away,status.active'` on the
 * consultant machine → every active node and its ancestors (`consultant.presence`, …).
 *
 * @example
 * activeStateIds('conversation', 'QUALIFICATION.waiting') // => ['conversation', 'conversation.QUALIFICATION', 'conversation.QUALIFICATION.waiting']
 */
export function activeStateIds(machineId: string, state: string | null | undefined): string[] {
  const ids = new Set<string>();
  if (!state) return [];
  ids.add(machineId);
  for (const leaf of state.split(',')) {
    const parts = leaf.trim().split('.').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) ids.add([machineId, ...parts.slice(0, i)].join('.'));
  }
  return [...ids];
}
