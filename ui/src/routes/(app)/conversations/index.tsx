import { $, component$, useComputed$, useContext, useSignal, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { Link, useLocation, type DocumentHead } from '@builder.io/qwik-city';
import { timeOf } from '../../../components/whatsapp/model';
import { api } from '../../../lib/api';
import { useWindowEvents } from '../../../lib/window-events';
import { SessionContext } from '../../../lib/session';

/**
 * Lívia's conversations (CONTRACT.md): listed by stage, live (`conversation:updated`); the chosen one's
 * transcript, the data collected and the simulation quoted. A consultant takes a conversation over
 * (HUMAN) and writes from here, then gives it back. Admins export a customer's data (LGPD, a JSON
 * download) and erase it, after a confirmation.
 */
interface ConversationRow {
  id: string;
  phone: string;
  stage: string;
  data: Record<string, unknown>;
  lead_id: string | null;
  updated_at: string;
}
interface Turn {
  role: 'customer' | 'livia' | 'consultant';
  text: string;
  at: string;
}
type Conversation = ConversationRow & { messages: Turn[] };

const STAGES = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED', 'HUMAN', 'ABANDONED', 'OPTED_OUT'] as const;
const STAGE_LABELS: Record<string, string> = {
  INTRO: 'Apresentação',
  QUALIFICATION: 'Qualificação',
  SIMULATION: 'Simulação',
  CONVERSION: 'Conversão',
  TRANSFERRED: 'Transferida',
  HUMAN: 'Com consultor',
  ABANDONED: 'Abandonada',
  OPTED_OUT: 'Saiu',
};
const ROLE_LABELS: Record<Turn['role'], string> = { customer: 'Cliente', livia: 'Lívia', consultant: 'Consultor' };
const DATA_LABELS: Record<string, string> = {
  name: 'Nome',
  purpose: 'Finalidade',
  requested_amount: 'Valor pedido',
  monthly_income: 'Renda mensal',
  term_months: 'Prazo',
  installment: 'Parcela',
  cpf: 'CPF',
  email: 'E-mail',
  city: 'Cidade',
};
const MONEY = new Set(['requested_amount', 'monthly_income', 'installment', 'total', 'total_amount', 'rate_amount']);
const brl = (v: number) => v.toLocaleString('pt-BR', { style: 'currency', currency: 'BRL' });
const show = (key: string, v: unknown): string => {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'number' && MONEY.has(key)) return brl(v);
  if (key === 'term_months' && typeof v === 'number') return `${v} meses`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
};
const enc = encodeURIComponent;

export default component$(() => {
  const session = useContext(SessionContext);
  const admin = session.user?.role === 'ADMIN';
  const location = useLocation();
  const state = useStore({
    list: [] as ConversationRow[],
    stage: '',
    selected: location.url.searchParams.get('id') ?? '',
    current: null as Conversation | null,
    draft: '',
    message: '',
    error: '',
    busy: false,
    loaded: false,
    erased: [] as string[],
  });
  const dialog = useSignal<HTMLDialogElement>();

  const loadList = $(async () => {
    const r = await api<ConversationRow[]>(`/api/conversations${state.stage ? `?stage=${state.stage}` : ''}`);
    if (r.ok) {
      state.list = r.data.filter((x) => !state.erased.includes(x.id));
      state.loaded = true;
      state.error = '';
    } else state.error = r.message;
  });
  const loadOne = $(async () => {
    if (!state.selected) return;
    const r = await api<Conversation>(`/api/conversations/${enc(state.selected)}`);
    if (r.ok) state.current = r.data;
    else state.error = r.message;
  });

  useVisibleTask$(({ track, cleanup }) => {
    track(() => state.stage);
    void loadList();
    void loadOne();
    const timer = setInterval(() => {
      void loadList();
      void loadOne();
    }, 30_000);
    cleanup(() => clearInterval(timer));
  }, { strategy: 'document-ready' });

  useWindowEvents({
    'livia-conversation': $(async (e: Event) => {
      const u = (e as CustomEvent<{ id: string; stage: string; data: Record<string, unknown>; lead_id: string | null }>).detail;
      if (state.erased.includes(u.id)) return;
      const row = state.list.find((c) => c.id === u.id);
      if (row) state.list = [{ ...row, ...u, updated_at: new Date().toISOString() }, ...state.list.filter((c) => c.id !== u.id)].filter((c) => !state.stage || c.stage === state.stage);
      else await loadList();
      if (u.id === state.selected) await loadOne();
    }),
    'livia-wa-message': $(async () => {
      if (state.selected) await loadOne();
    }),
  });
  // Lívia's and the customer's words also arrive as WhatsApp messages: the open transcript follows them.

  const open = $(async (id: string) => {
    state.selected = id;
    state.current = null;
    state.message = '';
    history.replaceState(null, '', `/conversations?id=${enc(id)}`);
    await loadOne();
  });

  const act = $(async (action: 'takeover' | 'release') => {
    if (!state.current) return;
    state.busy = true;
    const r = await api(`/api/conversations/${enc(state.current.id)}/${action}`, { method: 'POST' });
    state.busy = false;
    state.message = r.ok ? (action === 'takeover' ? 'Você assumiu a conversa; a Lívia não responde mais.' : 'A conversa voltou para a Lívia.') : r.message;
    await loadOne();
    await loadList();
  });

  const send = $(async () => {
    const text = state.draft.trim();
    if (!text || !state.current) return;
    state.busy = true;
    const r = await api(`/api/conversations/${enc(state.current.id)}/messages`, { method: 'POST', body: { text } });
    state.busy = false;
    if (r.ok) {
      state.draft = '';
      state.message = '';
      await loadOne();
    } else state.message = r.message;
  });

  const exportData = $(async () => {
    if (!state.current) return;
    const r = await api<unknown>(`/api/customers/${enc(state.current.phone)}/export`);
    if (!r.ok) {
      state.message = r.message;
      return;
    }
    const url = URL.createObjectURL(new Blob([JSON.stringify(r.data, null, 2)], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `dados-${state.current.phone.replace(/\D/g, '')}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    state.message = 'Exportação baixada.';
  });

  const erase = $(async () => {
    if (!state.current) return;
    const { phone, id } = state.current;
    dialog.value?.close();
    const r = await api(`/api/customers/${enc(phone)}`, { method: 'DELETE' });
    if (r.ok) {
      state.erased = [...state.erased, id];
      state.list = state.list.filter((x) => x.id !== id);
      state.current = null;
      state.selected = '';
      state.message = `Os dados de ${phone} foram apagados.`;
      history.replaceState(null, '', '/conversations');
      await loadList();
    } else state.message = r.message;
  });

  const grouped = useComputed$(() => STAGES.map((stage) => ({ stage, items: state.list.filter((c) => c.stage === stage) })).filter((g) => g.items.length > 0));
  const c = state.current;
  const quote = c && (c.data.installment !== undefined || c.data.simulation !== undefined);

  return (
    <section class="conversations" data-testid="conversations">
      <h1>Conversas da Lívia</h1>
      <div class="form-row">
        <label class="field">
          <span>Etapa</span>
          <select value={state.stage} onChange$={(_, el) => (state.stage = el.value)} data-testid="stage-filter">
            <option value="">Todas</option>
            {STAGES.map((s) => (
              <option key={s} value={s}>
                {STAGE_LABELS[s]}
              </option>
            ))}
          </select>
        </label>
      </div>
      {state.error && (
        <p class="error" role="alert">
          {state.error}
        </p>
      )}
      <div class="inbox-body">
        <nav class="card" aria-label="Conversas por etapa" data-testid="conversation-list">
          {state.loaded && state.list.length === 0 && <p class="muted">Nenhuma conversa.</p>}
          {grouped.value.map((g) => (
            <section key={g.stage} data-stage={g.stage} aria-labelledby={`stage-${g.stage}`}>
              <h2 id={`stage-${g.stage}`} class="stage-title">
                {STAGE_LABELS[g.stage]} <span class="badge">{g.items.length}</span>
              </h2>
              <ul class="chat-list">
                {g.items.map((x) => (
                  <li key={x.id} data-conversation={x.id} class={x.id === state.selected ? 'selected' : ''}>
                    <button type="button" class="chat" aria-current={x.id === state.selected ? 'true' : undefined} onClick$={() => open(x.id)}>
                      <strong>{typeof x.data.name === 'string' ? x.data.name : x.phone}</strong>
                      <span class="muted small">
                        {' '}
                        {x.phone} · {timeOf(x.updated_at)}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
            </section>
          ))}
        </nav>
        <div class="card">
          {state.message && (
            <p class="notice" role="status" data-testid="conversation-message">
              {state.message}
            </p>
          )}
          {!c && <p class="muted">Escolha uma conversa.</p>}
          {c && (
            <article data-testid="conversation" data-stage={c.stage} aria-labelledby="conv-title">
              <h2 id="conv-title">
                {typeof c.data.name === 'string' ? c.data.name : c.phone}{' '}
                <span class="pill" data-testid="conversation-stage">
                  {STAGE_LABELS[c.stage] ?? c.stage}
                </span>
              </h2>
              <p class="muted small">
                {c.phone}
                {c.lead_id && (
                  <>
                    {' · '}
                    <Link href={`/leads/${c.lead_id}`}>Ver lead</Link>
                  </>
                )}
              </p>
              <div class="form-row">
                {c.stage === 'HUMAN' ? (
                  <button type="button" class="button" disabled={state.busy} onClick$={() => act('release')} data-testid="release">
                    Devolver para a Lívia
                  </button>
                ) : (
                  <button type="button" class="button primary" disabled={state.busy || c.stage === 'OPTED_OUT'} onClick$={() => act('takeover')} data-testid="takeover">
                    Assumir conversa
                  </button>
                )}
                {admin && (
                  <>
                    <button type="button" class="button" onClick$={exportData} data-testid="export">
                      Exportar dados (LGPD)
                    </button>
                    <button type="button" class="button danger" onClick$={() => dialog.value?.showModal()} data-testid="erase">
                      Apagar dados
                    </button>
                  </>
                )}
              </div>

              <h3>Dados coletados</h3>
              <dl class="facts" data-testid="conversation-data">
                {Object.entries(c.data)
                  .filter(([k]) => k !== 'simulation')
                  .map(([k, v]) => (
                    <div key={k}>
                      <dt>{DATA_LABELS[k] ?? k}</dt>
                      <dd>{show(k, v)}</dd>
                    </div>
                  ))}
                {Object.keys(c.data).length === 0 && <p class="muted">Nada coletado ainda.</p>}
              </dl>
              {quote && (
                <section class="quote" aria-labelledby="quote-title" data-testid="simulation">
                  <h3 id="quote-title">Simulação apresentada</h3>
                  <p>
                    {c.data.requested_amount !== undefined && <>{show('requested_amount', c.data.requested_amount)} </>}
                    {c.data.term_months !== undefined && <>em {show('term_months', c.data.term_months)} </>}
                    {c.data.installment !== undefined && <>: parcelas de {show('installment', c.data.installment)}</>}
                  </p>
                  {c.data.simulation !== undefined && <pre class="small">{JSON.stringify(c.data.simulation, null, 2)}</pre>}
                </section>
              )}

              <h3>Conversa</h3>
              <ol class="messages transcript" aria-live="polite" aria-label="Transcrição" tabIndex={0} data-testid="transcript">
                {c.messages.map((m, i) => (
                  <li key={`${m.at}-${i}`} class={`bubble ${m.role === 'customer' ? 'in' : 'out'} role-${m.role}`} data-role={m.role}>
                    <small class="muted">{ROLE_LABELS[m.role] ?? m.role}</small>
                    <span class="text">{m.text}</span>
                    <small class="meta">
                      <time dateTime={m.at}>{timeOf(m.at)}</time>
                    </small>
                  </li>
                ))}
              </ol>
              {c.stage === 'HUMAN' && (
                <form preventdefault:submit onSubmit$={send} class="reply">
                  <input
                    type="text"
                    value={state.draft}
                    onInput$={(_, el) => (state.draft = el.value)}
                    placeholder="Escreva ao cliente (Enter envia)"
                    aria-label="Mensagem ao cliente"
                    maxLength={4096}
                    autoComplete="off"
                    data-testid="conversation-reply"
                  />
                  <button type="submit" class="button primary" disabled={state.busy}>
                    Enviar
                  </button>
                </form>
              )}
            </article>
          )}
        </div>
      </div>
      <dialog ref={dialog} class="card dialog" aria-labelledby="erase-title" data-testid="erase-dialog">
        <h2 id="erase-title">Apagar os dados deste cliente?</h2>
        <p>Conversas, mensagens e dados coletados de {c?.phone} serão apagados de forma definitiva (LGPD). Não é possível desfazer.</p>
        <div class="form-row">
          <button type="button" class="button" onClick$={() => dialog.value?.close()} data-testid="erase-cancel">
            Cancelar
          </button>
          <button type="button" class="button danger" onClick$={erase} data-testid="erase-confirm">
            Apagar definitivamente
          </button>
        </div>
      </dialog>
    </section>
  );
});

export const head: DocumentHead = {
  title: 'Conversas da Lívia',
};
