/**
 * The statechart converter on the real machines: every stage and sub-state present, every
 * transition of the definition on the chart and labelled, and a layout that places all of them.
 */
import { describe, expect, it } from 'vitest';
import { consultantMachine } from '../actors/consultant.machine.ts';
import { createConversationMachine } from '../actors/conversation.machine.ts';
import { parseHours } from './business-hours.ts';
import { layoutStatechart } from './statechart-layout.ts';
import { activeStateIds, allStates, toStatechart, type StateNodeJson, type TransitionJson } from './statechart.ts';

const conversation = createConversationMachine({
  monthlyRate: 0.02,
  maxIncomeShare: 0.3,
  followUpMs: [3_600_000, 86_400_000],
  burstMs: 1500,
  hours: parseHours('08:00-20:00', 'America/Sao_Paulo'),
});

/** The JSON as the API sends it (through JSON.stringify). */
const json = (m: { toJSON(): unknown }) => JSON.parse(JSON.stringify(m.toJSON())) as StateNodeJson;

function transitionsOf(node: StateNodeJson): { source: string; t: TransitionJson }[] {
  return [
    ...Object.values(node.on ?? {}).flat().map((t) => ({ source: node.id, t })),
    ...Object.values(node.states ?? {}).flatMap(transitionsOf),
  ];
}

describe('toStatechart', () => {
  it('draws every stage of the conversation machine, with their sub-states', () => {
    const chart = toStatechart(json(conversation));
    const ids = allStates(chart.root).map((s) => s.id);
    for (const stage of ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED', 'HUMAN', 'ABANDONED', 'OPTED_OUT']) {
      expect(ids).toContain(`conversation.${stage}`);
    }
    for (const stage of ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION']) {
      for (const sub of ['idle', 'collecting', 'thinking', 'waiting', 'nudged']) expect(ids).toContain(`conversation.${stage}.${sub}`);
    }
    const intro = allStates(chart.root).find((s) => s.id === 'conversation.INTRO');
    expect(intro?.type).toBe('compound');
    expect(intro?.initial).toBe(true);
    expect(intro?.children.find((c) => c.key === 'idle')?.initial).toBe(true);
  });

  it('puts every transition on the chart, labelled with its event, guard or named delay', () => {
    const definition = json(conversation);
    const chart = toStatechart(definition);
    const states = allStates(chart.root);
    for (const { source, t } of transitionsOf(definition)) {
      const targets = (t.target ?? []).map((x) => x.slice(1));
      if (targets.length === 0) {
        const lines = states.find((s) => s.id === source)?.internal ?? [];
        expect(lines.some((l) => l.startsWith(t.eventType)), `${source} ${t.eventType}`).toBe(true);
        continue;
      }
      for (const target of targets) {
        const edge = chart.edges.find((e) => e.source === source && e.target === target && e.event === t.eventType);
        expect(edge, `${source} → ${target} on ${t.eventType}`).toBeDefined();
        expect(edge!.label.length).toBeGreaterThan(0);
        if (typeof t.guard === 'string') expect(edge!.label).toContain(t.guard);
        if (t.guard && typeof t.guard === 'object') expect(edge!.label).toContain(t.guard.type);
      }
    }
    const burst = chart.edges.find((e) => e.source === 'conversation.INTRO.collecting');
    expect(burst).toMatchObject({ target: 'conversation.INTRO.thinking', delay: 'BURST', label: 'after BURST' });
    expect(chart.edges.find((e) => e.source === 'conversation.QUALIFICATION.nudged')).toMatchObject({ target: 'conversation.ABANDONED', label: 'after FOLLOW_UP_2' });
    const toSimulation = chart.edges.find((e) => e.source === 'conversation.QUALIFICATION.thinking' && e.target === 'conversation.SIMULATION.waiting');
    expect(toSimulation?.label).toBe('brain.decided [turnLeadsTo(QUALIFICATION, SIMULATION)]');
    expect(toSimulation?.lines).toEqual(['brain.decided', '[turnLeadsTo(QUALIFICATION, SIMULATION)]']);
    const handOff = chart.edges.find((e) => e.source === 'conversation.CONVERSION.thinking' && e.target === 'conversation.TRANSFERRED');
    expect(handOff?.lines).toEqual(['brain.decided', '[turnLeadsTo(CONVERSION, TRANSFERRED)]', '[turnLeadsTo(CONVERSION, TRANSFERRED, more)]']);
    expect(states.find((s) => s.id === 'conversation.INTRO')?.internal).toContain('message.received [duplicate]');
    expect(chart.edges.find((e) => e.source === 'conversation.HUMAN' && e.target === 'conversation.QUALIFICATION.idle')?.label).toBe(
      'conversation.release [resumesAt(QUALIFICATION)]',
    );
  });

  it('draws the consultant machine: parallel regions, nested online states', () => {
    const chart = toStatechart(json(consultantMachine));
    expect(chart.root.type).toBe('parallel');
    expect(chart.root.children.map((c) => c.key).sort()).toEqual(['presence', 'status']);
    const ids = allStates(chart.root).map((s) => s.id);
    expect(ids).toEqual(expect.arrayContaining(['consultant.presence.offline', 'consultant.presence.online', 'consultant.presence.online.available', 'consultant.presence.online.away']));
    expect(chart.edges.find((e) => e.source === 'consultant.presence.offline')).toMatchObject({ target: 'consultant.presence.online', label: 'presence.connected' });
    for (const { source, t } of transitionsOf(json(consultantMachine))) {
      for (const target of (t.target ?? []).map((x) => x.slice(1))) {
        expect(chart.edges.some((e) => e.source === source && e.target === target && e.event === t.eventType)).toBe(true);
      }
    }
  });

  it('lights every active region of a parallel state and the ancestors of a nested one', () => {
    expect(activeStateIds('consultant', 'presence.online.away,status.active').sort()).toEqual(
      ['consultant', 'consultant.presence', 'consultant.presence.online', 'consultant.presence.online.away', 'consultant.status', 'consultant.status.active'].sort(),
    );
    expect(activeStateIds('conversation', 'QUALIFICATION.waiting')).toEqual(['conversation', 'conversation.QUALIFICATION', 'conversation.QUALIFICATION.waiting']);
    expect(activeStateIds('conversation', null)).toEqual([]);
  });
});

describe('layoutStatechart', () => {
  it('places every state inside its parent and routes every edge', async () => {
    for (const machine of [json(conversation), json(consultantMachine)]) {
      const chart = toStatechart(machine);
      const drawn = await layoutStatechart(chart);
      expect(drawn.states.length).toBe(allStates(chart.root).length);
      const byId = new Map(drawn.states.map((s) => [s.id, s]));
      for (const s of drawn.states) {
        expect(s.width).toBeGreaterThan(0);
        const parentId = s.id.split('.').slice(0, -1).join('.');
        const parent = byId.get(parentId);
        if (!parent) continue;
        expect(s.x).toBeGreaterThanOrEqual(parent.x);
        expect(s.y).toBeGreaterThanOrEqual(parent.y);
        expect(s.x + s.width).toBeLessThanOrEqual(parent.x + parent.width + 0.5);
        expect(s.y + s.height).toBeLessThanOrEqual(parent.y + parent.height + 0.5);
      }
      for (const e of drawn.edges) {
        expect(e.points.length, e.label).toBeGreaterThanOrEqual(2);
        expect(e.labelBox.width, e.label).toBeGreaterThan(0);
      }
      expect(drawn.width).toBeGreaterThan(0);
    }
  });
});
