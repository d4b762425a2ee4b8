import { $, component$, useContext, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { routeLoader$, useLocation, type DocumentHead } from '@builder.io/qwik-city';
import { LeadThread } from '../../../../components/whatsapp/lead-thread';
import { api } from '../../../../lib/api';
import type { LeadEvent } from '../../../../lib/live';
import {
  dateTime,
  formatPhone,
  STATUS_LABELS,
  STATUSES,
  TEMPERATURE_LABELS,
  type Consultant,
  type Interaction,
  type Lead,
  type LeadStatus,
} from '../../../../lib/model';
import { serverApi } from '../../../../lib/server-api';
import { canManageTeam, SessionContext } from '../../../../lib/session';
import { useSession } from '../../layout';

type LeadDetail = Lead & { interactions: Interaction[] };

export const useLead = routeLoader$(async (ev) => {
  const me = await ev.resolveValue(useSession);
  const [lead, team] = await Promise.all([
    serverApi<LeadDetail>(ev, `/api/leads/${encodeURIComponent(ev.params.id ?? '')}`),
    canManageTeam(me.user?.role) ? serverApi<Consultant[]>(ev, '/api/consultants') : Promise.resolve(null),
  ]);
  if (!lead.ok) {
    // An unknown id and someone else's lead look the same: both "cannot be seen".
    if (lead.status === 404 || lead.status === 422 || lead.status === 400) ev.status(404);
    return { ok: false as const, notFound: lead.status === 404 || lead.status === 422 || lead.status === 400, message: lead.message };
  }
  return { ok: true as const, lead: lead.data, team: team?.ok ? team.data.filter((c) => c.active) : [] };
});

const INTERACTION_LABELS: Record<string, string> = {
  created: 'Lead recebido',
  classified: 'Classificado',
  assigned: 'Atribuído',
  status_changed: 'Status alterado',
  reassigned: 'Reatribuído',
  note: 'Nota',
};

function describe(i: Interaction, team: Consultant[]): string {
  const d = i.data;
  const name = (id: unknown) => team.find((c) => c.id === id)?.name ?? 'outro consultor';
  switch (i.type) {
    case 'status_changed':
      return `${STATUS_LABELS[d.from as LeadStatus] ?? String(d.from)} → ${STATUS_LABELS[d.to as LeadStatus] ?? String(d.to)}`;
    case 'note':
      return String(d.text ?? '');
    case 'reassigned':
      return `Para ${name(d.to)}`;
    case 'classified':
      return [d.score !== undefined ? `${String(d.score)} pts` : '', d.temperature ? TEMPERATURE_LABELS[d.temperature as 'HOT'] ?? String(d.temperature) : '']
        .filter(Boolean)
        .join(', ');
    case 'assigned':
      return d.consultant_name ? `Para ${String(d.consultant_name)}` : d.consultant_id ? `Para ${name(d.consultant_id)}` : '';
    default:
      return '';
  }
}

function reasonsOf(lead: Lead): string[] {
  const r = lead.ai_reasons;
  if (Array.isArray(r)) return r.map(String);
  if (r && typeof r === 'object' && Array.isArray((r as { reasons?: unknown }).reasons)) return (r as { reasons: unknown[] }).reasons.map(String);
  return [];
}

export default component$(() => {
  const data = useLead();
  const location = useLocation();
  if (!data.value.ok) {
    return (
      <section class="card" role="alert" data-testid="lead-error">
        <h1>{data.value.notFound ? 'Lead indisponível' : 'Não foi possível carregar o lead'}</h1>
        <p>{data.value.notFound ? 'Este lead não existe ou você não tem permissão para vê-lo.' : data.value.message}</p>
        {data.value.notFound ? (
          <a class="button" href="/">
            Voltar ao quadro
          </a>
        ) : (
          <a class="button" href={location.url.pathname}>
            Tentar novamente
          </a>
        )}
      </section>
    );
  }
  return <LeadView key={data.value.lead.id} initial={data.value.lead} team={data.value.team} />;
});

const LeadView = component$<{ initial: LeadDetail; team: Consultant[] }>(({ initial, team }) => {
  const session = useContext(SessionContext);
  const state = useStore({ lead: initial, message: '', info: '', busy: false }, { deep: true });
  const manager = canManageTeam(session.user?.role);

  // An answer older than the lead shown (overtaken by another read's) is dropped: never back in time.
  const reload = $(async () => {
    const r = await api<LeadDetail>(`/api/leads/${state.lead.id}`);
    if (!r.ok) state.message = r.message;
    else if (r.data.version >= state.lead.version) state.lead = r.data;
  });

  const patch = $(async (body: Record<string, unknown>, done: string) => {
    if (state.busy) return false;
    state.busy = true;
    state.message = '';
    state.info = '';
    const r = await api<Lead>(`/api/leads/${state.lead.id}`, { method: 'PATCH', body: { version: state.lead.version, ...body } });
    state.busy = false;
    if (!r.ok) {
      state.message = r.message;
      if (r.status === 409) await reload();
      return false;
    }
    state.info = done;
    await reload();
    return true;
  });

  // The timeline is live: any change to this lead, by anyone, reloads it.
  useVisibleTask$(({ cleanup }) => {
    const onLead = (e: Event) => {
      const { lead } = (e as CustomEvent<LeadEvent>).detail;
      if (lead.id === state.lead.id && lead.version !== state.lead.version) void reload();
    };
    const onRemoved = (e: Event) => {
      if ((e as CustomEvent<{ id: string }>).detail.id !== state.lead.id) return;
      state.message = 'Este lead foi reatribuído a outro consultor e você não pode mais alterá-lo.';
    };
    // What changed while no live connection was open (before the socket first connected, or while
    // it was down) was never told: on each connect the lead is read again, as a live change is.
    const onConnected = () => void reload();
    window.addEventListener('livia-lead', onLead);
    window.addEventListener('livia-lead-removed', onRemoved);
    window.addEventListener('livia-connected', onConnected);
    // Connected before this ran: what was told in between reached no listener.
    if (document.documentElement.dataset.live === 'socket') void reload();
    cleanup(() => {
      window.removeEventListener('livia-lead', onLead);
      window.removeEventListener('livia-lead-removed', onRemoved);
      window.removeEventListener('livia-connected', onConnected);
    });
  });

  const reasons = reasonsOf(state.lead);
  // Computed here, not inline: an inline expression becomes a signal bound to the first lead object.
  const summary = `${STATUS_LABELS[state.lead.status]} · recebido em ${dateTime(state.lead.created_at)} · ${state.lead.consultant?.name ?? 'sem consultor'}`;

  return (
    <div class="stack" data-testid="lead-page" data-lead-id={state.lead.id}>
      <div>
        <a href="/">← Quadro</a>
        <h1>{state.lead.name}</h1>
        <p class="muted" data-testid="lead-summary">
          {summary}
        </p>
      </div>
      {state.message && (
        <p class="error" role="alert" data-testid="lead-message">
          {state.message}
        </p>
      )}
      {state.info && (
        <p class="notice" role="status" data-testid="lead-info">
          {state.info}
        </p>
      )}
      <div class="grid-2">
        <div class="stack">
          {/* Keyed by version: what changed is rendered afresh, never left bound to the old lead. */}
          <section class="card" aria-labelledby="data-title" key={`data-${state.lead.version}`}>
            <h2 id="data-title">Dados</h2>
            <dl class="facts">
              <dt>Telefone</dt>
              <dd>{formatPhone(state.lead.phone)}</dd>
              <dt>E-mail</dt>
              <dd>{state.lead.email ?? '—'}</dd>
              <dt>Origem</dt>
              <dd>{state.lead.source}</dd>
              <dt>Valor pedido</dt>
              <dd>{state.lead.requested_amount != null ? state.lead.requested_amount.toLocaleString('pt-BR', { style: 'currency', currency: 'BRL' }) : '—'}</dd>
              <dt>Renda mensal</dt>
              <dd>{state.lead.monthly_income != null ? state.lead.monthly_income.toLocaleString('pt-BR', { style: 'currency', currency: 'BRL' }) : '—'}</dd>
              <dt>Mensagem</dt>
              <dd>{state.lead.message ?? '—'}</dd>
            </dl>
          </section>

          <section class="card" aria-labelledby="ai-title" data-testid="classification" key={`ai-${state.lead.version}`}>
            <h2 id="ai-title">Classificação da IA</h2>
            {state.lead.ai_temperature ? (
              <>
                <p>
                  <span class={`temp temp-${state.lead.ai_temperature.toLowerCase()}`}>{TEMPERATURE_LABELS[state.lead.ai_temperature]}</span> ·{' '}
                  <strong>{state.lead.ai_score ?? '—'} pts</strong> · classificador:{' '}
                  <span data-testid="classifier">{state.lead.ai_classifier === 'groq' ? 'Groq (LLM)' : 'regras'}</span>
                </p>
                {reasons.length > 0 ? (
                  <ul>
                    {reasons.map((r, i) => (
                      <li key={i}>{r}</li>
                    ))}
                  </ul>
                ) : (
                  <p class="muted">Sem motivos registrados.</p>
                )}
              </>
            ) : (
              <p class="muted">Ainda não classificado.</p>
            )}
          </section>

          <section class="card" aria-labelledby="timeline-title">
            <h2 id="timeline-title">Linha do tempo</h2>
            {state.lead.interactions.length === 0 ? (
              <p class="muted">Nenhuma interação ainda.</p>
            ) : (
              <ol class="timeline" data-testid="timeline">
                {state.lead.interactions.map((i) => (
                  <li key={i.id} data-type={i.type}>
                    <strong>{INTERACTION_LABELS[i.type] ?? i.type}</strong> <span class="muted small">{dateTime(i.created_at)}</span>
                    {i.actor.name && <span class="muted small"> · {i.actor.name}</span>}
                    <div>{describe(i, team)}</div>
                  </li>
                ))}
              </ol>
            )}
            <form
              class="stack"
              preventdefault:submit
              onSubmit$={async (_, form: HTMLFormElement) => {
                // Read from the form itself: the text may be typed before any handler has loaded.
                const text = String(new FormData(form).get('note') ?? '').trim();
                if (!text) return;
                if (await patch({ note: text }, 'Nota adicionada.')) form.reset();
              }}
            >
              <label class="field">
                <span>Nova nota</span>
                <textarea name="note" maxLength={5000} required data-testid="note-input" />
              </label>
              <button type="submit" class="button primary" disabled={state.busy} data-testid="note-submit">
                Adicionar nota
              </button>
            </form>
          </section>

          <LeadThread leadId={state.lead.id} />
        </div>

        <div class="stack">
          <section class="card" aria-labelledby="status-title">
            <h2 id="status-title">Status</h2>
            <form
              key={`status-${state.lead.version}`}
              class="form-row"
              preventdefault:submit
              onSubmit$={async (_, form: HTMLFormElement) => {
                const to = new FormData(form).get('status') as LeadStatus;
                if (to && to !== state.lead.status) await patch({ status: to }, `Status alterado para ${STATUS_LABELS[to]}.`);
              }}
            >
              <label>
                <span>Mover para</span>
                <select name="status" data-testid="status-select">
                  {STATUSES.map((s) => (
                    <option key={s} value={s} selected={s === state.lead.status}>
                      {STATUS_LABELS[s]}
                    </option>
                  ))}
                </select>
              </label>
              <button type="submit" class="button" disabled={state.busy} data-testid="status-submit">
                Alterar status
              </button>
            </form>
          </section>

          {manager && (
            <section class="card" aria-labelledby="assign-title">
              <h2 id="assign-title">Consultor</h2>
              <form
                key={`assign-${state.lead.version}`}
                class="form-row"
                preventdefault:submit
                onSubmit$={async (_, form: HTMLFormElement) => {
                  const id = String(new FormData(form).get('consultant_id') ?? '');
                  const who = team.find((c) => c.id === id);
                  if (id && id !== state.lead.consultant_id) await patch({ consultant_id: id }, `Lead reatribuído a ${who?.name ?? 'outro consultor'}.`);
                }}
              >
                <label>
                  <span>Reatribuir a</span>
                  <select name="consultant_id" data-testid="reassign-select">
                    {team.map((c) => (
                      <option key={c.id} value={c.id} selected={c.id === state.lead.consultant_id}>
                        {`${c.name} — ${c.open_leads}/${c.max_open_leads} leads${c.online ? ' · online' : ''}`}
                      </option>
                    ))}
                  </select>
                </label>
                <button type="submit" class="button" disabled={state.busy} data-testid="reassign-submit">
                  Reatribuir
                </button>
              </form>
            </section>
          )}
        </div>
      </div>
    </div>
  );
});

export const head: DocumentHead = ({ resolveValue }) => {
  const data = resolveValue(useLead);
  return { title: data.ok ? data.lead.name : 'Lead indisponível' };
};
