/**
 * A statechart laid out by elkjs (src/domain/statechart-layout.ts), drawn as SVG. The drawing is
 * static: the page lights states by setting `data-active` on `[data-state-id]` groups, so the
 * browser never needs this component's code (the chart is rendered on the server).
 */
import { component$ } from '@builder.io/qwik';
import type { DrawnChart } from '../../../../src/domain/statechart-layout.ts';

const LINE = 15;

export const Statechart = component$<{ chart: DrawnChart; machine: string; active: readonly string[] }>(({ chart, machine, active }) => {
  const lit = new Set(active);
  const titleId = `chart-title-${machine}`;
  return (
    <svg
      class="statechart"
      role="img"
      aria-labelledby={titleId}
      viewBox={`-4 -4 ${chart.width + 8} ${chart.height + 8}`}
      width={chart.width + 8}
      height={chart.height + 8}
      data-testid="statechart"
      data-machine={machine}
    >
      <title id={titleId}>{`Diagrama de estados da máquina ${machine}`}</title>
      <defs>
        <marker id={`arrow-${machine}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M 0 0 L 10 5 L 0 10 z" class="sc-arrowhead" />
        </marker>
      </defs>
      {chart.states.map((s) => (
        <g
          key={s.id}
          class={`sc-state sc-${s.type}${s.depth === 0 ? ' sc-root' : ''}`}
          data-state-id={s.id}
          data-active={lit.has(s.id) ? '' : undefined}
          transform={`translate(${s.x} ${s.y})`}
        >
          <rect width={s.width} height={s.height} rx={s.type === 'atomic' || s.type === 'final' ? 8 : 12} />
          {s.initial && s.depth > 0 && <circle class="sc-initial" cx={10} cy={12} r={4} />}
          <text class="sc-name" x={s.initial && s.depth > 0 ? 19 : 10} y={16}>
            {s.key}
          </text>
          {s.internal.map((line, i) => (
            <text key={line} class="sc-internal" x={10} y={16 + LINE * (i + 1)}>
              {line}
            </text>
          ))}
        </g>
      ))}
      {chart.edges.map((e) =>
        e.points.length < 2 ? null : (
          <g key={e.id} class={`sc-edge${e.delay ? ' sc-delay' : ''}`} data-edge-source={e.source} data-edge-target={e.target} data-event={e.event} data-label={e.label}>
            <polyline points={e.points.map((p) => `${p.x},${p.y}`).join(' ')} marker-end={`url(#arrow-${machine})`} />
            <text class="sc-label" y={e.labelBox.y + 11}>
              {e.lines.map((line, i) => (
                <tspan key={i} x={e.labelBox.x} dy={i === 0 ? 0 : LINE} class={i === 0 ? 'sc-event' : 'sc-guard'}>
                  {line}
                </tspan>
              ))}
            </text>
          </g>
        ),
      )}
    </svg>
  );
});
