/**
 * Charts drawn on the server as plain SVG (they show before any script runs). Scales and shapes
 * come from d3-scale and d3-shape; these components only place what d3 computed.
 *
 * @example
 * <BarChart title="Leads por origem" data={[{ label: 'site', value: 12 }]} />
 */
import { component$ } from '@builder.io/qwik';
import { scaleBand, scaleLinear } from 'd3-scale';
import { arc, pie, type PieArcDatum } from 'd3-shape';

export interface Datum {
  label: string;
  value: number;
  /** What the bar's end says (defaults to the value). */
  text?: string;
}

const WIDTH = 420;
const LABEL_WIDTH = 130;
const BAR = 26;
const GAP = 8;
const COLORS = ['#128c7e', '#2a7ab0', '#c77d14', '#7a4fb5', '#b42318', '#4d5b69', '#3f8f3a', '#a33f7f'];

export const BarChart = component$<{ title: string; data: Datum[]; max?: number; testId?: string }>(({ title, data, max, testId }) => {
  // Callers leave out what has nothing to show; a chart with no rows says so.
  if (data.length === 0) {
    return (
      <p class="empty" data-testid={testId ? `${testId}-empty` : undefined}>
        Sem dados no período.
      </p>
    );
  }
  const height = data.length * (BAR + GAP) + GAP;
  const y = scaleBand<string>()
    .domain(data.map((d) => d.label))
    .range([0, height])
    .paddingInner(GAP / (BAR + GAP))
    .paddingOuter(0.15);
  const x = scaleLinear()
    .domain([0, max ?? Math.max(1, ...data.map((d) => d.value))])
    .nice()
    .range([0, WIDTH - LABEL_WIDTH - 60]);
  const summary = data.map((d) => `${d.label}: ${d.text ?? d.value}`).join('; ');
  return (
    <svg viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label={`${title}. ${summary}`} data-testid={testId}>
      <title>{title}</title>
      {data.map((d, i) => {
        const top = y(d.label) ?? 0;
        const w = Math.max(0, x(d.value));
        return (
          <g key={d.label} transform={`translate(0,${top})`} data-label={d.label} data-value={d.value}>
            <text x={LABEL_WIDTH - 8} y={y.bandwidth() / 2} dy="0.35em" text-anchor="end" font-size="14" fill="#1f2933">
              {d.label}
            </text>
            <rect x={LABEL_WIDTH} width={w} height={y.bandwidth()} rx="4" fill={COLORS[i % COLORS.length]} />
            <text x={LABEL_WIDTH + w + 6} y={y.bandwidth() / 2} dy="0.35em" font-size="14" fill="#1f2933">
              {d.text ?? String(d.value)}
            </text>
          </g>
        );
      })}
    </svg>
  );
});

export const DonutChart = component$<{ title: string; data: Datum[]; testId?: string }>(({ title, data, testId }) => {
  const total = data.reduce((sum, d) => sum + d.value, 0);
  if (total === 0) {
    return (
      <p class="empty" data-testid={testId ? `${testId}-empty` : undefined}>
        Sem dados no período.
      </p>
    );
  }
  const size = 220;
  const radius = size / 2;
  const arcs = pie<Datum>()
    .value((d) => d.value)
    .sort(null)(data.filter((d) => d.value > 0));
  const path = arc<PieArcDatum<Datum>>()
    .innerRadius(radius * 0.55)
    .outerRadius(radius - 4);
  const summary = data.map((d) => `${d.label}: ${d.value}`).join('; ');
  return (
    <div class="donut">
      <svg viewBox={`0 0 ${size} ${size}`} width={size} height={size} role="img" aria-label={`${title}. ${summary}`} data-testid={testId}>
        <title>{title}</title>
        <g transform={`translate(${radius},${radius})`}>
          {arcs.map((a, i) => (
            <path key={a.data.label} d={path(a) ?? ''} fill={COLORS[i % COLORS.length]} data-label={a.data.label} data-value={a.data.value} />
          ))}
          <text text-anchor="middle" dy="0.35em" font-size="22" font-weight="700" fill="#1f2933">
            {String(total)}
          </text>
        </g>
      </svg>
      <ul class="legend">
        {arcs.map((a, i) => (
          <li key={a.data.label}>
            <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} aria-hidden="true" /> {a.data.label}: {a.data.value} (
            {Math.round((a.data.value / total) * 100)}%)
          </li>
        ))}
      </ul>
    </div>
  );
});
