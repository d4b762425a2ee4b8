import { component$ } from '@builder.io/qwik';
import { routeLoader$, type DocumentHead } from '@builder.io/qwik-city';
import { BarChart, DonutChart } from '../../../components/charts/charts';
import { STATUS_LABELS, TEMPERATURE_LABELS, type LeadStatus, type Temperature } from '../../../lib/model';
import { serverApi } from '../../../lib/server-api';
import { canManageTeam } from '../../../lib/session';
import { useSession } from '../layout';

/** `GET /api/analytics/summary` (see issue 10). */
interface Durations {
  count: number;
  avg_seconds: number | null;
  p50_seconds: number | null;
  p90_seconds: number | null;
}
interface Summary {
  from: string;
  to: string;
  funnel: { status: LeadStatus; count: number }[];
  by_consultant: { consultant_id: string; name: string; total: number; won: number; lost: number; conversion_rate: number }[];
  by_source: { source: string; count: number }[];
  by_temperature: { temperature: Temperature | null; count: number }[];
  time_to_assignment: Durations;
  time_to_first_contact: Durations;
  livia_stages: { stage: string; count: number }[];
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const iso = (d: Date) => d.toISOString().slice(0, 10);

const STAGE_LABELS: Record<string, string> = {
  INTRO: 'Apresentação',
  QUALIFICATION: 'Qualificação',
  SIMULATION: 'Simulação',
  CONVERSION: 'Conversão',
  TRANSFERRED: 'Transferido',
  HUMAN: 'Com consultor',
  ABANDONED: 'Abandonou',
  OPTED_OUT: 'Saiu',
};

export const useAnalytics = routeLoader$(async (ev) => {
  const me = await ev.resolveValue(useSession);
  const today = new Date();
  const from = ev.url.searchParams.get('from') ?? iso(new Date(today.getTime() - 29 * 86_400_000));
  const to = ev.url.searchParams.get('to') ?? iso(today);
  if (!canManageTeam(me.user?.role)) {
    ev.status(403);
    return { kind: 'forbidden' as const, from, to };
  }
  if (!DAY.test(from) || !DAY.test(to) || from > to) {
    return { kind: 'error' as const, from, to, message: 'Informe um período válido: a data inicial deve vir antes da final.' };
  }
  if (Date.parse(to) - Date.parse(from) > 366 * 86_400_000) {
    return { kind: 'error' as const, from, to, message: 'Escolha um período de no máximo 366 dias.' };
  }
  const r = await serverApi<Summary>(ev, `/api/analytics/summary?from=${from}&to=${to}`);
  if (!r.ok) {
    const message =
      r.status === 404 ? 'As análises ainda não estão disponíveis neste servidor.' : r.status === 422 ? 'Período inválido: confira as datas (no máximo 366 dias).' : r.message;
    return { kind: 'error' as const, from, to, message };
  }
  return { kind: 'ok' as const, from, to, summary: r.data };
});

/** 95 → "1 min 35 s"; 7200 → "2 h"; null → "—". */
function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${(s / 86_400).toFixed(1).replace('.', ',')} d`;
}

const DurationCard = component$<{ title: string; d: Durations; testId: string }>(({ title, d, testId }) => (
  <section class="card" aria-label={title} data-testid={testId}>
    <h2>{title}</h2>
    {d.count === 0 ? (
      <p class="empty">Sem dados no período.</p>
    ) : (
      <>
        <div class="stat-row">
          <div>
            <div class="muted small">Média</div>
            <div class="stat">{duration(d.avg_seconds)}</div>
          </div>
          <div>
            <div class="muted small">Mediana</div>
            <div class="stat">{duration(d.p50_seconds)}</div>
          </div>
          <div>
            <div class="muted small">90% em até</div>
            <div class="stat">{duration(d.p90_seconds)}</div>
          </div>
        </div>
        <p class="muted small">{d.count === 1 ? '1 lead no período.' : `${d.count} leads no período.`}</p>
      </>
    )}
  </section>
));

export default component$(() => {
  const data = useAnalytics();
  const v = data.value;
  if (v.kind === 'forbidden') {
    return (
      <section class="card" role="alert">
        <h1>Análises</h1>
        <p>Somente gestores e administradores podem ver as análises.</p>
      </section>
    );
  }
  const csv = `/api/analytics/leads.csv?from=${v.from}&to=${v.to}`;
  return (
    <div class="stack">
      <div class="board-head">
        <h1>Análises</h1>
        <form method="get" action="/analytics" class="filters" aria-label="Período">
          <label>
            <span>De</span>
            <input type="date" name="from" value={v.from} required data-testid="analytics-from" />
          </label>
          <label>
            <span>Até</span>
            <input type="date" name="to" value={v.to} required data-testid="analytics-to" />
          </label>
          <button type="submit" class="button" data-testid="analytics-apply">
            Aplicar
          </button>
          <a class="button" href={csv} download={`leads-${v.from}-${v.to}.csv`} data-testid="analytics-csv">
            Exportar CSV
          </a>
        </form>
      </div>
      {v.kind === 'error' ? (
        <section class="card" role="alert" data-testid="analytics-error">
          <p>{v.message}</p>
          <a class="button" href={`/analytics?from=${v.from}&to=${v.to}`}>
            Tentar novamente
          </a>
        </section>
      ) : (
        <>
          <p class="muted">
            Período de {v.summary.from.split('-').reverse().join('/')} a {v.summary.to.split('-').reverse().join('/')}.
          </p>
          <div class="charts">
            <section class="card" aria-labelledby="funnel-title">
              <h2 id="funnel-title">Funil por status</h2>
              <BarChart title="Funil por status" testId="chart-funnel" data={(v.summary.funnel.some((f) => f.count > 0) ? v.summary.funnel : []).map((f) => ({ label: STATUS_LABELS[f.status] ?? f.status, value: f.count }))} />
            </section>
            <section class="card" aria-labelledby="conv-title">
              <h2 id="conv-title">Conversão por consultor</h2>
              <BarChart
                title="Conversão por consultor"
                testId="chart-conversion"
                max={1}
                data={v.summary.by_consultant.filter((c) => c.total > 0).map((c) => ({
                  label: c.name,
                  value: c.conversion_rate,
                  text: `${Math.round(c.conversion_rate * 100)}% (${c.won}/${c.total})`,
                }))}
              />
            </section>
            <section class="card" aria-labelledby="source-title">
              <h2 id="source-title">Leads por origem</h2>
              <BarChart title="Leads por origem" testId="chart-source" data={v.summary.by_source.filter((s) => s.count > 0).map((s) => ({ label: s.source, value: s.count }))} />
            </section>
            <section class="card" aria-labelledby="temp-title">
              <h2 id="temp-title">Leads por temperatura</h2>
              <DonutChart
                title="Leads por temperatura"
                testId="chart-temperature"
                data={v.summary.by_temperature.map((t) => ({ label: t.temperature ? TEMPERATURE_LABELS[t.temperature] : 'Sem classificação', value: t.count }))}
              />
            </section>
            <DurationCard title="Da chegada à atribuição" d={v.summary.time_to_assignment} testId="time-to-assignment" />
            <DurationCard title="Da chegada ao primeiro contato" d={v.summary.time_to_first_contact} testId="time-to-first-contact" />
            <section class="card" aria-labelledby="stages-title">
              <h2 id="stages-title">Conversas da Lívia por etapa</h2>
              <BarChart title="Conversas da Lívia por etapa" testId="chart-stages" data={v.summary.livia_stages.filter((s) => s.count > 0).map((s) => ({ label: STAGE_LABELS[s.stage] ?? s.stage, value: s.count }))} />
            </section>
          </div>
        </>
      )}
    </div>
  );
});

export const head: DocumentHead = { title: 'Análises' };
