import { $, component$, useSignal, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { routeLoader$, type DocumentHead } from '@builder.io/qwik-city';
import { layoutStatechart, type DrawnChart } from '../../../../../src/domain/statechart-layout.ts';
import { activeStateIds, toStatechart, type StateNodeJson } from '../../../../../src/domain/statechart.ts';
import { Statechart } from '../../../components/statechart/statechart';
import { SESSION_NAMES, TICKS, timeOf, type WaChat, type WaMessage } from '../../../components/whatsapp/model';
import { api } from '../../../lib/api';
import { useWindowEvents } from '../../../lib/window-events';
import { serverApi } from '../../../lib/server-api';
import { useSession } from '../layout';

/**
 * The WhatsApp simulator (WHATSAPP_DRIVER=simulator; ADMIN): the admin writes as a customer to Lívia's
 * number or to the consultants' number, sees what the project answers (the chat of that phone on that
 * session), reads it (READ receipts), and watches the customer's conversation actor (type
 * `conversation`, id = the E.164 phone) light up on its statechart as it moves.
 */
const MACHINE = 'conversation';

let drawn: Promise<DrawnChart> | undefined;

export const useSimulatorPage = routeLoader$(async (ev) => {
  const me = await ev.resolveValue(useSession);
  if (me.user?.role !== 'ADMIN') {
    ev.status(403);
    return { kind: 'forbidden' as const };
  }
  const probe = await serverApi<unknown>(ev, '/api/simulator/messages?to=%2B550000000000');
  if (probe.status === 404) return { kind: 'off' as const };
  const machines = await serverApi<{ id: string; version: number; definition: StateNodeJson }[]>(ev, '/api/machines');
  const machine = machines.ok ? machines.data.find((m) => m.id === MACHINE) : undefined;
  if (!machine) return { kind: 'ok' as const, chart: null, root: '' };
  if (!drawn) {
    drawn = layoutStatechart(toStatechart(machine.definition));
    drawn.catch(() => (drawn = undefined));
  }
  return { kind: 'ok' as const, chart: await drawn, root: machine.definition.id };
});

/** The E.164 form the actor id uses: digits with a leading +. */
const e164 = (phone: string) => `+${phone.replace(/\D/g, '')}`;

export default component$(() => {
  const data = useSimulatorPage();
  const v = data.value;
  if (v.kind === 'forbidden') {
    return (
      <section class="card" role="alert" data-testid="simulator-forbidden">
        <h1>Simulador</h1>
        <p>Somente administradores podem usar o simulador do WhatsApp.</p>
      </section>
    );
  }
  if (v.kind === 'off') {
    return (
      <section class="card" role="alert" data-testid="simulator-off">
        <h1>Simulador</h1>
        <p>O simulador só existe quando o servidor roda com WHATSAPP_DRIVER=simulator.</p>
      </section>
    );
  }
  return <SimulatorChat chart={v.chart} root={v.root} />;
});

const SimulatorChat = component$<{ chart: DrawnChart | null; root: string }>(({ chart, root }) => {
  const state = useStore({
    session: 'livia',
    phone: '+5511999990001',
    name: 'Cliente Teste',
    draft: '',
    chatId: '',
    messages: [] as WaMessage[],
    actorState: '',
    message: '',
    busy: false,
  });
  const fileInput = useSignal<HTMLInputElement>();
  const list = useSignal<HTMLElement>();

  const loadChat = $(async () => {
    const phone = e164(state.phone);
    const chats = await api<WaChat[]>(`/api/whatsapp/chats?session=${state.session}`);
    const chat = chats.ok ? chats.data.find((c) => c.phone === phone) : undefined;
    state.chatId = chat?.id ?? '';
    if (!chat) {
      state.messages = [];
      return;
    }
    const r = await api<WaMessage[]>(`/api/whatsapp/chats/${chat.id}/messages?limit=100`);
    if (r.ok) state.messages = r.data;
  });
  // Read from the list (a phone that never wrote has no actor: no 404 to show); snapshots follow.
  const loadActor = $(async () => {
    const id = e164(state.phone);
    const r = await api<{ id: string; state: string }[]>(`/api/actors?type=${MACHINE}&limit=1000`);
    state.actorState = (r.ok && r.data.find((a) => a.id === id)?.state) || '';
  });

  // Watch the conversation actor of the phone typed; follow its snapshots.
  useVisibleTask$(({ track, cleanup }) => {
    const phone = e164(track(() => state.phone));
    track(() => state.session);
    let stop: (() => void) | undefined;
    let closed = false;
    void loadChat();
    void loadActor();
    void import('../../../lib/live').then(({ watchActor }) => {
      if (!closed) stop = watchActor(MACHINE, phone);
    });
    const again = () => {
      void loadChat();
      void loadActor();
    };
    window.addEventListener('livia-connected', again);
    cleanup(() => {
      closed = true;
      stop?.();
      window.removeEventListener('livia-connected', again);
    });
  }, { strategy: 'document-ready' });
  useWindowEvents({
    'livia-actor': $((e: Event) => {
      const s = (e as CustomEvent<{ type: string; id: string; state: string }>).detail;
      if (s.type === MACHINE && s.id === e164(state.phone)) state.actorState = s.state;
    }),
    'livia-wa-message': $(async (e: Event) => {
      const m = (e as CustomEvent<WaMessage>).detail;
      if (m.chat_id === state.chatId) state.messages = state.messages.some((x) => x.id === m.id) ? state.messages.map((x) => (x.id === m.id ? m : x)) : [...state.messages, m];
      else await loadChat();
    }),
    'livia-wa-status': $((e: Event) => {
      const s = (e as CustomEvent<{ id: string; status: string }>).detail;
      state.messages = state.messages.map((x) => (x.id === s.id ? { ...x, status: s.status } : x));
    }),
  });

  useVisibleTask$(
    ({ track }) => {
      track(() => state.messages.length);
      if (list.value) list.value.scrollTop = list.value.scrollHeight;
    },
    { strategy: 'document-ready' },
  );

  // Light the chart with the actor's state.
  useVisibleTask$(({ track }) => {
    const current = track(() => state.actorState);
    const lit = new Set(activeStateIds(root, current));
    for (const g of document.querySelectorAll<SVGGElement>(`[data-machine="${MACHINE}"] [data-state-id]`)) {
      if (lit.has(g.dataset.stateId ?? '')) g.setAttribute('data-active', '');
      else g.removeAttribute('data-active');
    }
    const svg = document.querySelector<SVGSVGElement>(`[data-machine="${MACHINE}"]`);
    if (svg) svg.dataset.shown = current;
    // The innermost lit state in view inside the chart's scroll box (not the page).
    const deepest = [...lit].sort((a, b) => b.split('.').length - a.split('.').length)[0];
    const target = deepest ? document.querySelector<SVGGElement>(`[data-machine="${MACHINE}"] [data-state-id="${CSS.escape(deepest)}"]`) : null;
    const box = target?.closest<HTMLElement>('.chart-card');
    if (target && box) {
      const t = target.getBoundingClientRect();
      const b = box.getBoundingClientRect();
      box.scrollTo({ left: box.scrollLeft + t.left - b.left - b.width / 2 + t.width / 2, top: box.scrollTop + t.top - b.top - b.height / 2 + t.height / 2 });
    }
  }, { strategy: 'document-ready' });

  const inject = $(async (body: Record<string, unknown>) => {
    state.busy = true;
    const r = await api<{ id: string }>('/api/simulator/messages', { method: 'POST', body: { session: state.session, from: state.phone, name: state.name || undefined, ...body } });
    state.busy = false;
    state.message = r.ok ? '' : r.message;
    return r.ok;
  });
  const send = $(async () => {
    const text = state.draft.trim();
    if (!text) return;
    state.draft = '';
    if (!(await inject({ text }))) state.draft = text;
  });
  const attach = $(async () => {
    const file = fileInput.value?.files?.[0];
    if (!file) return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    let bin = '';
    for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const type = file.type.startsWith('image/') ? 'image' : file.type.startsWith('audio/') ? 'voice' : 'document';
    await inject({ media: { type, mime: file.type || 'application/octet-stream', base64: btoa(bin), file_name: file.name } });
    if (fileInput.value) fileInput.value.value = '';
  });
  const read = $(async () => {
    const r = await api<{ read: number }>('/api/simulator/read', { method: 'POST', body: { to: state.phone } });
    state.message = r.ok ? `${r.data.read} mensagem(ns) marcadas como lidas pelo cliente.` : r.message;
  });

  return (
    <section class="simulator" data-testid="simulator">
      <h1>Simulador do WhatsApp</h1>
      <p class="muted">Converse como um cliente, sem celular. As respostas chegam como chegariam ao telefone do cliente.</p>
      <div class="form-row">
        <label class="field">
          <span>Número</span>
          <select value={state.session} onChange$={(_, el) => (state.session = el.value)} data-testid="sim-session">
            <option value="livia">{`${SESSION_NAMES.livia} (atendimento automático)`}</option>
            <option value="consultant">{SESSION_NAMES.consultant}</option>
          </select>
        </label>
        <label class="field">
          <span>Telefone do cliente</span>
          <input type="tel" value={state.phone} onChange$={(_, el) => (state.phone = el.value)} data-testid="sim-phone" />
        </label>
        <label class="field">
          <span>Nome no WhatsApp</span>
          <input type="text" value={state.name} onInput$={(_, el) => (state.name = el.value)} data-testid="sim-name" />
        </label>
      </div>
      <div class="simulator-body">
        <div class="card phone" data-testid="sim-chat">
          <ol ref={list} class="messages" aria-live="polite" aria-label="Conversa do cliente" tabIndex={0}>
            {state.messages.length === 0 && <li class="muted">Escreva a primeira mensagem.</li>}
            {state.messages.map((m) => (
              // Seen from the customer's phone: what they sent is on the right.
              <li key={m.id} class={`bubble ${m.direction === 'in' ? 'out' : 'in'}`} data-direction={m.direction} data-status={m.status} data-kind={m.kind}>
                {m.media && <span class="muted">[{m.media.type}] </span>}
                {m.text && <span class="text">{m.text}</span>}
                <small class="meta">
                  <time dateTime={m.at}>{timeOf(m.at)}</time>
                  {m.direction === 'out' && TICKS[m.status] && <span class="sr-only"> {TICKS[m.status]!.label}</span>}
                </small>
              </li>
            ))}
          </ol>
          {state.message && (
            <p class="muted" role="status" data-testid="sim-message">
              {state.message}
            </p>
          )}
          <form preventdefault:submit onSubmit$={send} class="reply">
            <input
              type="text"
              value={state.draft}
              onInput$={(_, el) => (state.draft = el.value)}
              placeholder="Mensagem do cliente (Enter envia)"
              aria-label="Mensagem do cliente"
              autoComplete="off"
              data-testid="sim-input"
            />
            <label class="button attach">
              Arquivo
              <input ref={fileInput} type="file" class="sr-only" accept="image/*,audio/*,application/pdf" onChange$={attach} aria-label="Enviar arquivo como o cliente" />
            </label>
            <button type="submit" class="button primary" disabled={state.busy} data-testid="sim-send">
              Enviar
            </button>
          </form>
          <button type="button" class="button" onClick$={read} data-testid="sim-read">
            O cliente lê as mensagens
          </button>
        </div>
        <div class="card chart-card" role="region" aria-labelledby="chart-title" tabIndex={0}>
          <h2 id="chart-title">
            Conversa com a Lívia: <span data-testid="sim-state">{state.actorState || 'ainda não começou'}</span>
          </h2>
          {chart ? <Statechart chart={chart} machine={MACHINE} active={activeStateIds(root, state.actorState)} /> : <p class="muted">A máquina de conversa não está registrada.</p>}
        </div>
      </div>
    </section>
  );
});

export const head: DocumentHead = {
  title: 'Simulador',
};
