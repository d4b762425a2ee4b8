/**
 * Places a statechart (./statechart.ts) with elkjs, in absolute coordinates ready for SVG: a box per
 * state (compound and parallel states contain their children), a polyline per transition with its
 * label placed by ELK (beside its head, one line for the event and one a guard). Uses elkjs's bundled build, which runs without web workers: the web app
 * calls it on the server, in the page's loader, so the chart is drawn before any JavaScript runs.
 *
 * @example
 * const drawn = await layoutStatechart(toStatechart(machine.toJSON()));
 * drawn.states[0] // => { id: 'conversation', x: 0, y: 0, width: 1830, height: 960, … }
 */
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';
import type ELKType from 'elkjs/lib/elk.bundled.js';
import { allStates, type ChartEdge, type ChartState, type Statechart } from './statechart.ts';

export interface DrawnState {
  id: string;
  key: string;
  type: ChartState['type'];
  initial: boolean;
  internal: string[];
  depth: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DrawnEdge extends ChartEdge {
  points: { x: number; y: number }[];
  labelBox: { x: number; y: number; width: number; height: number };
}

export interface DrawnChart {
  width: number;
  height: number;
  states: DrawnState[];
  edges: DrawnEdge[];
}

/** Text metrics without a browser: 12px system sans-serif averages about 6.6px a character. */
const CHAR_WIDTH = 6.6;
const LINE_HEIGHT = 15;
const TITLE_HEIGHT = 24;
const PADDING = 12;

const textWidth = (s: string) => Math.ceil(s.length * CHAR_WIDTH);

let elk: InstanceType<typeof ELKType> | undefined;

export async function layoutStatechart(chart: Statechart): Promise<DrawnChart> {
  // Loaded on the first chart, not with the server: elkjs's bundled build is large, and a server
  // that never draws a chart should not carry it in memory.
  elk ??= new (await import('elkjs/lib/elk.bundled.js')).default();
  const byId = new Map(allStates(chart.root).map((s) => [s.id, s]));

  const toNode = (s: ChartState): ElkNode => {
    const lines = s.internal.length;
    const labelWidth = Math.max(textWidth(s.key) + 24, ...s.internal.map((l) => textWidth(l) + 2 * PADDING));
    if (s.children.length === 0) {
      return { id: s.id, width: Math.max(90, labelWidth), height: TITLE_HEIGHT + 12 + lines * LINE_HEIGHT };
    }
    return {
      id: s.id,
      layoutOptions: {
        // Room on top for the state's name and its internal transitions.
        'elk.padding': `[top=${TITLE_HEIGHT + 8 + lines * LINE_HEIGHT},left=${PADDING},bottom=${PADDING},right=${PADDING}]`,
        'elk.nodeSize.minimum': `(${labelWidth}, 40)`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        // Parallel regions sit side by side; stages of a compound flow left to right.
        'elk.direction': s.type === 'parallel' ? 'RIGHT' : 'DOWN',
      },
      children: s.children.map(toNode),
    };
  };

  const edges: ElkExtendedEdge[] = chart.edges.map((e) => ({
    id: e.id,
    sources: [e.source],
    targets: [e.target],
    labels: [
      {
        text: e.label,
        width: Math.max(...e.lines.map(textWidth)),
        height: LINE_HEIGHT * e.lines.length,
        // Beside the arrow's head, not in the middle: centre labels become nodes of the layering
        // and, with this many transitions, spread the chart five times wider.
        layoutOptions: { 'elk.edgeLabels.placement': 'HEAD' },
      },
    ],
  }));

  const graph: ElkNode = {
    id: '__root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '36',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeLabels.inline': 'false',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
    },
    children: [toNode(chart.root)],
    edges,
  };

  const laid = await elk.layout(graph);

  const states: DrawnState[] = [];
  const walk = (n: ElkNode, depth: number) => {
    const s = byId.get(n.id);
    if (s) {
      states.push({
        id: s.id,
        key: s.key,
        type: s.type,
        initial: s.initial,
        internal: s.internal,
        depth,
        x: n.x ?? 0,
        y: n.y ?? 0,
        width: n.width ?? 0,
        height: n.height ?? 0,
      });
    }
    for (const c of n.children ?? []) walk(c, s ? depth + 1 : depth);
  };
  walk(laid, 0);

  const drawnEdges: DrawnEdge[] = [];
  const laidEdges = new Map<string, ElkExtendedEdge>();
  const collect = (n: ElkNode) => {
    for (const e of (n.edges ?? []) as ElkExtendedEdge[]) laidEdges.set(e.id, e);
    for (const c of n.children ?? []) collect(c);
  };
  collect(laid);
  for (const e of chart.edges) {
    const l = laidEdges.get(e.id);
    const section = l?.sections?.[0];
    const label = l?.labels?.[0];
    const points = section ? [section.startPoint, ...(section.bendPoints ?? []), section.endPoint] : [];
    drawnEdges.push({
      ...e,
      points,
      labelBox: { x: label?.x ?? 0, y: label?.y ?? 0, width: label?.width ?? 0, height: label?.height ?? LINE_HEIGHT * e.lines.length },
    });
  }
  return { width: Math.ceil(laid.width ?? 0), height: Math.ceil(laid.height ?? 0), states, edges: drawnEdges };
}
