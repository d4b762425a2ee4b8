/**
 * `/machines`: the actors' state machines, drawn (for developers; ADMIN and MANAGER). The chart is
 * laid out on the server (elkjs in the loader), so it shows before any JavaScript runs. Choosing an
 * actor lights its current state, streams its changes live (`actor:subscribe`), and a timeline
 * scrubber steps through its recent events, lighting the state after each one. Armed timers show
 * with their due time; dead-lettered effects with retry and discard buttons for admins, and the
 * effects an admin discarded, with who and when.
 */
import { $, component$, Slot, useSignal, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { routeLoader$, type DocumentHead } from '@builder.io/qwik-city';
import { layoutStatechart, type DrawnChart } from '../../../../../src/domain/statechart-layout.ts';
import { activeStateIds, eventLabel, toStatechart, type StateNodeJson } from '../../../../../src/domain/statechart.ts';
import { Statechart } from '../../../components/statechart/statechart';
import { api } from '../../../lib/api';
import { serverApi } from '../../../lib/server-api';
import { canManageTeam } from '../../../lib/session';
import { useSession } from '../layout';

interface Machine {
  id: string;
  version: number;
  definition: StateNodeJson;
}
interface ActorSummary {
  type: string;
  id: string;
  state: string;
  status: string;
  updated_at: string;
}
interface HistoryEvent {
  seq: number;
  type: string;
  at: string;
  state: string | null;
}
interface DeadEffect {
  id: string;
  seq: number;
  type: string;
  attempts: number;
  last_error: string | null;
  dead_at: string;
}
interface DiscardedEffect extends DeadEffect {
  discarded_at: string;
  discarded_by: string | null;
  discarded_by_name: string | null;
}
interface Timer {
  key: string;
  event: string;
  due_at: string;
}
interface ActorDetail {
  type: string;
  id: string;
  state: string;
  status: string;
  seq: number;
  failure?: string;
  events: HistoryEvent[];
  dead_effects: DeadEffect[];
  discarded_effects: DiscardedEffect[];
  timers: Timer[];
}

const HISTORY = 100;
const NAME = /^[\w.:@+-]{1,200}$/;

// Machine definitions do not change while the server runs: lay each out once.
const layouts = new Map<string, Promise<DrawnChart>>();
function layoutOf(m: Machine): Promise<DrawnChart> {
  const key = `${m.id}@${m.version}`;
  let drawn = layouts.get(key);
  if (!drawn) {
    drawn = layoutStatechart(toStatechart(m.definition));
    drawn.catch(() => layouts.delete(key));
    layouts.set(key, drawn);
  }
  return drawn;
}

export const useMachines = routeLoader$(async (ev) => {
  const me = await ev.resolveValue(useSession);
  if (!canManageTeam(me.user?.role)) {
    ev.status(403);
    return { kind: 'forbidden' as const };
  }
  const machines = await serverApi<Machine[]>(ev, '/api/machines');
  if (!machines.ok) return { kind: 'error' as const, message: machines.message };
  const ids = machines.data.map((m) => m.id);
  const asked = ev.url.searchParams.get('type') ?? '';
  const machine = machines.data.find((m) => m.id === asked) ?? machines.data[0];
  if (!machine) return { kind: 'error' as const, message: 'Nenhuma máquina de estados registrada.' };
  const q = (ev.url.searchParams.get('q') ?? '').trim().slice(0, 200);
  const actorId = ev.url.searchParams.get('id') ?? '';

  const [chart, list, detail] = await Promise.all([
    layoutOf(machine),
    serverApi<ActorSummary[]>(ev, `/api/actors?type=${encodeURIComponent(machine.id)}&limit=1000`),
    NAME.test(actorId)
      ? serverApi<ActorDetail>(ev, `/api/actors/${encodeURIComponent(machine.id)}/${encodeURIComponent(actorId)}?limit=${HISTORY}`)
      : Promise.resolve(undefined),
  ]);
  const needle = q.toLowerCase();
  const actors = list.ok ? list.data.filter((a) => !needle || a.id.toLowerCase().includes(needle)).slice(0, 50) : [];
  return {
    kind: 'ok' as const,
    machines: ids,
    machine: machine.id,
    // State ids start with the machine's own id, which need not be the actor type's name.
    root: machine.definition.id,
    chart,
    q,
    actors,
    listMessage: list.ok ? '' : list.message,
    actorId: NAME.test(actorId) ? actorId : '',
    actor: detail?.ok ? detail.data : null,
    actorMessage: detail && !detail.ok ? (detail.status === 404 ? 'Ator não encontrado.' : detail.message) : actorId && !NAME.test(actorId) ? 'Identificador inválido.' : '',
  };
});

const when = (iso: string) =>
  new Date(iso).toLocaleString('pt-BR', { timeZone: 'America/Sao_Paulo', day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });

export default component$(() => {
  const data = useMachines();
  const v = data.value;
  if (v.kind === 'forbidden') {
    return (
      <section class="card" role="alert" data-testid="machines-forbidden">
        <h1>Máquinas de estado</h1>
        <p>Somente gestores e administradores podem ver as máquinas de estado e os atores.</p>
      </section>
    );
  }
  if (v.kind === 'error') {
    return (
      <section class="card" role="alert" data-testid="machines-error">
        <h1>Máquinas de estado</h1>
        <p>{v.message}</p>
        <a class="button" href="/machines">
          Tentar novamente
        </a>
      </section>
    );
  }
  const initialLit = v.actor ? activeStateIds(v.root, v.actor.state) : [];
  return (
    <div class="stack machines">
      <div class="board-head">
        <h1>Máquinas de estado</h1>
        <nav aria-label="Máquinas" class="tabs">
          {v.machines.map((m) => (
            <a key={m} href={`/machines?type=${encodeURIComponent(m)}`} aria-current={m === v.machine ? 'page' : undefined} data-testid="machine-tab">
              {m}
            </a>
          ))}
        </nav>
      </div>
      <div class="machines-grid">
        <aside class="card machines-side" aria-label="Atores">
          <form method="get" action="/machines" class="picker" role="search" aria-label="Buscar ator">
            <label>
              <span>Tipo</span>
              <select name="type" data-testid="actor-type">
                {v.machines.map((m) => (
                  <option key={m} value={m} selected={m === v.machine}>
                    {m}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <span>Identificador</span>
              <input type="search" name="q" value={v.q} placeholder="id ou parte dele" data-testid="actor-search" />
            </label>
            <button type="submit" class="button" data-testid="actor-search-submit">
              Buscar
            </button>
          </form>
          {v.listMessage && <p class="error">{v.listMessage}</p>}
          {v.actors.length === 0 ? (
            <p class="muted small" data-testid="actor-none">
              Nenhum ator encontrado.
            </p>
          ) : (
            <ul class="actor-list" data-testid="actor-list">
              {v.actors.map((a) => (
                <li key={a.id}>
                  <a
                    href={`/machines?type=${encodeURIComponent(a.type)}&q=${encodeURIComponent(v.q)}&id=${encodeURIComponent(a.id)}`}
                    aria-current={a.id === v.actorId ? 'true' : undefined}
                    data-actor-id={a.id}
                  >
                    <span class="actor-id">{a.id}</span>
                    <span class="muted small">{a.state}</span>
                  </a>
                </li>
              ))}
            </ul>
          )}
        </aside>
        <div class="stack machines-main">
          {v.actorMessage && (
            <p class="error" role="alert" data-testid="actor-message">
              {v.actorMessage}
            </p>
          )}
          {v.actor && <ActorPanel actor={v.actor} machine={v.machine} root={v.root} />}
          <ChartCard machine={v.machine}>
            <Statechart chart={v.chart} machine={v.machine} active={initialLit} />
          </ChartCard>
        </div>
      </div>
    </div>
  );
});

/** The chart at its real size, scrolled to what is lit, or fitted to the page's width. */
const ChartCard = component$<{ machine: string }>(({ machine }) => {
  const fit = useSignal(false);
  return (
    <section class="card chart-card" aria-label={`Máquina ${machine}`}>
      <div class="chart-tools">
        <h2>{machine}</h2>
        <button type="button" class="button" aria-pressed={fit.value} onClick$={() => (fit.value = !fit.value)} data-testid="chart-fit">
          Ajustar à largura
        </button>
      </div>
      <div class={`chart-scroll${fit.value ? ' fit' : ''}`} tabIndex={0} role="region" aria-label={`Diagrama da máquina ${machine}`} data-testid="chart-scroll">
        <Slot />
      </div>
    </section>
  );
});

interface PanelState {
  state: string;
  status: string;
  events: HistoryEvent[];
  timers: Timer[];
  dead: DeadEffect[];
  discarded: DiscardedEffect[];
  /** The timeline position (index into events); the last one while following live. */
  pos: number;
  live: boolean;
  message: string;
  retry: Record<string, string>;
  discard: Record<string, string>;
  /** Reads of the actor's detail started so far (the newest one wins). */
  reads: number;
}

const ActorPanel = component$<{ actor: ActorDetail; machine: string; root: string }>(({ actor, machine, root }) => {
  const session = useSession();
  const admin = session.value.user?.role === 'ADMIN';
  const store = useStore<PanelState>({
    state: actor.state,
    status: actor.status,
    events: actor.events,
    timers: actor.timers,
    dead: actor.dead_effects,
    discarded: actor.discarded_effects,
    pos: Math.max(0, actor.events.length - 1),
    live: true,
    message: '',
    retry: {},
    discard: {},
    reads: 0,
  });

  const refresh = $(async () => {
    // Snapshots come in fast bursts (collecting, thinking, waiting): only the last read counts, so an
    // older answer arriving late never lights a state the actor has already left.
    const mine = ++store.reads;
    const r = await api<ActorDetail>(`/api/actors/${encodeURIComponent(actor.type)}/${encodeURIComponent(actor.id)}?limit=${HISTORY}`);
    if (mine !== store.reads) return;
    if (!r.ok) {
      store.message = r.message;
      return;
    }
    store.message = '';
    store.state = r.data.state;
    store.status = r.data.status;
    store.events = r.data.events;
    store.timers = r.data.timers;
    store.dead = r.data.dead_effects;
    store.discarded = r.data.discarded_effects;
    if (store.live) store.pos = Math.max(0, r.data.events.length - 1);
  });

  // Live: the actor's snapshots over the page's socket; each one brings the history up to date.
  useVisibleTask$(({ cleanup }) => {
    let stop: (() => void) | undefined;
    let closed = false;
    const onSnapshot = (e: Event) => {
      const s = (e as CustomEvent<{ type: string; id: string; state: string; status: string }>).detail;
      if (s.type !== actor.type || s.id !== actor.id) return;
      store.state = s.state;
      store.status = s.status;
      void refresh();
    };
    window.addEventListener('livia-actor', onSnapshot);
    void import('../../../lib/live').then(({ watchActor }) => {
      if (!closed) stop = watchActor(actor.type, actor.id);
    });
    cleanup(() => {
      closed = true;
      stop?.();
      window.removeEventListener('livia-actor', onSnapshot);
    });
  });

  // Light the chart: the live state, or the state after the event the scrubber is on.
  useVisibleTask$(({ track }) => {
    const live = track(() => store.live);
    const state = track(() => store.state);
    const pos = track(() => store.pos);
    const events = track(() => store.events);
    const at = live ? events.length - 1 : pos;
    const shown = live ? state : (events[pos]?.state ?? null);
    const lit = new Set(activeStateIds(root, shown));
    for (const g of document.querySelectorAll<SVGGElement>(`[data-machine="${machine}"] [data-state-id]`)) {
      if (lit.has(g.dataset.stateId ?? '')) g.setAttribute('data-active', '');
      else g.removeAttribute('data-active');
    }
    // The transition the event took: its event, from a state lit before it to one lit after it.
    const event = events[at];
    const before = new Set(activeStateIds(root, events[at - 1]?.state));
    for (const g of document.querySelectorAll<SVGGElement>(`[data-machine="${machine}"] .sc-edge`)) {
      const taken = !!event && g.dataset.event === event.type && before.has(g.dataset.edgeSource ?? '') && lit.has(g.dataset.edgeTarget ?? '');
      if (taken) g.setAttribute('data-taken', '');
      else g.removeAttribute('data-taken');
    }
    const chart = document.querySelector<SVGSVGElement>(`[data-machine="${machine}"]`);
    if (chart) chart.dataset.shown = shown ?? '';
    // Bring the innermost lit state into view inside the chart's scroll box (not the page).
    const deepest = [...lit].sort((a, b) => b.split('.').length - a.split('.').length)[0];
    const target = deepest ? document.querySelector<SVGGElement>(`[data-machine="${machine}"] [data-state-id="${CSS.escape(deepest)}"]`) : null;
    const box = target?.closest<HTMLElement>('.chart-scroll');
    if (target && box) {
      const t = target.getBoundingClientRect();
      const b = box.getBoundingClientRect();
      box.scrollTo({ left: box.scrollLeft + t.left - b.left - b.width / 2 + t.width / 2, top: box.scrollTop + t.top - b.top - b.height / 2 + t.height / 2 });
    }
  });

  const step = $((to: number) => {
    const last = store.events.length - 1;
    store.pos = Math.min(Math.max(0, to), Math.max(0, last));
    store.live = store.pos >= last;
  });

  const retry = $(async (effectId: string) => {
    store.retry = { ...store.retry, [effectId]: 'Enviando…' };
    const r = await api<{ state: string; status: string }>(
      `/api/actors/${encodeURIComponent(actor.type)}/${encodeURIComponent(actor.id)}/effects/${effectId}/retry`,
      { method: 'POST' },
    );
    store.retry = { ...store.retry, [effectId]: r.ok ? `Reenviado: o ator está em ${r.data.state} (${r.data.status}).` : r.message };
    if (r.ok) await refresh();
  });

  // Irreversible: the effect never runs, and the actor's later effects go ahead without it.
  const discard = $(async (effectId: string, type: string) => {
    if (!window.confirm(`Descartar o efeito ${type}? Ele não será executado, e os próximos efeitos do ator seguirão.`)) return;
    store.discard = { ...store.discard, [effectId]: 'Descartando…' };
    const r = await api<{ state: string; status: string }>(
      `/api/actors/${encodeURIComponent(actor.type)}/${encodeURIComponent(actor.id)}/effects/${effectId}/discard`,
      { method: 'POST' },
    );
    store.discard = { ...store.discard, [effectId]: r.ok ? `Descartado: o ator está em ${r.data.state} (${r.data.status}).` : r.message };
    if (r.ok) await refresh();
  });

  const last = store.events.length - 1;
  const current = store.events[store.pos];
  const shown = store.live ? store.state : (current?.state ?? '—');
  return (
    <section class="card actor-panel" aria-label={`Ator ${actor.type} ${actor.id}`} data-testid="actor-panel">
      <div class="actor-head">
        <h2>
          {actor.type} <span class="actor-id">{actor.id}</span>
        </h2>
        <p class="actor-now" aria-live="polite" data-testid="actor-state">
          <span data-testid="actor-mode">{store.live ? 'Agora' : `Após o evento #${current?.seq ?? '—'}`}</span>:{' '}
          <strong data-testid="actor-shown-state">{shown}</strong> <span class="muted small">({store.status})</span>
        </p>
      </div>
      {store.message && (
        <p class="error" role="alert">
          {store.message}
        </p>
      )}
      {actor.failure && <p class="error">Falha: {actor.failure}</p>}

      <h3 id="timeline-title">Linha do tempo</h3>
      {store.events.length === 0 ? (
        <p class="muted small">Nenhum evento registrado.</p>
      ) : (
        <div class="scrubber">
          <button type="button" class="button" onClick$={() => step(store.pos - 1)} disabled={store.pos <= 0} data-testid="scrub-back" aria-label="Evento anterior">
            ◀
          </button>
          <input
            type="range"
            min={0}
            max={Math.max(0, last)}
            step={1}
            value={store.pos}
            aria-labelledby="timeline-title"
            aria-valuetext={current ? `Evento ${store.pos + 1} de ${last + 1}: ${current.type}, depois ${current.state ?? '—'}` : ''}
            data-testid="scrubber"
            onInput$={(_, el) => step(Number(el.value))}
          />
          <button type="button" class="button" onClick$={() => step(store.pos + 1)} disabled={store.pos >= last} data-testid="scrub-forward" aria-label="Próximo evento">
            ▶
          </button>
          <button type="button" class="button" onClick$={() => step(last)} disabled={store.live} data-testid="scrub-live">
            Ao vivo
          </button>
        </div>
      )}
      <ol class="event-list" data-testid="event-list" aria-label="Eventos recentes">
        {store.events.map((e, i) => (
          <li key={e.seq} aria-current={i === store.pos ? 'step' : undefined} data-seq={e.seq}>
            <button type="button" class="link-button" onClick$={() => step(i)}>
              <span class="muted small">#{e.seq}</span> <code>{e.type.startsWith('xstate.after.') ? eventLabel({ eventType: e.type }) : e.type}</code> → {e.state ?? '—'}
            </button>
            <span class="muted small"> {when(e.at)}</span>
          </li>
        ))}
      </ol>

      <div class="actor-extras">
        <section aria-labelledby="timers-title">
          <h3 id="timers-title">Temporizadores armados</h3>
          {store.timers.length === 0 ? (
            <p class="muted small">Nenhum.</p>
          ) : (
            <ul data-testid="timers">
              {store.timers.map((t) => (
                <li key={t.key} data-timer-key={t.key}>
                  <code>{eventLabel({ eventType: t.event })}</code> vence em <time dateTime={t.due_at}>{when(t.due_at)}</time>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="dead-title">
          <h3 id="dead-title">Efeitos com falha definitiva</h3>
          {store.dead.length === 0 ? (
            <p class="muted small">Nenhum.</p>
          ) : (
            <ul data-testid="dead-effects">
              {store.dead.map((d) => (
                <li key={d.id} data-effect-id={d.id}>
                  <code>{d.type}</code> (evento #{d.seq}, {d.attempts} tentativas): {d.last_error ?? 'sem detalhe'}
                  {admin && (
                    <span class="dead-actions">
                      <button type="button" class="button" onClick$={() => retry(d.id)} data-testid="retry-effect">
                        Tentar de novo
                      </button>
                      <button type="button" class="button" onClick$={() => discard(d.id, d.type)} data-testid="discard-effect">
                        Descartar
                      </button>
                    </span>
                  )}
                </li>
              ))}
            </ul>
          )}
          {Object.entries(store.retry).map(([id, text]) => (
            <p key={id} class="notice" role="status" data-testid="retry-result">
              {text}
            </p>
          ))}
          {Object.entries(store.discard).map(([id, text]) => (
            <p key={id} class="notice" role="status" data-testid="discard-result">
              {text}
            </p>
          ))}
          {store.discarded.length > 0 && (
            <>
              <h4 id="discarded-title">Descartados</h4>
              <ul data-testid="discarded-effects" aria-labelledby="discarded-title">
                {store.discarded.map((d) => (
                  <li key={d.id} data-effect-id={d.id}>
                    <code>{d.type}</code> (evento #{d.seq}, {d.attempts} tentativas): {d.last_error ?? 'sem detalhe'}. Descartado por{' '}
                    {d.discarded_by_name ?? d.discarded_by ?? 'sistema'} em <time dateTime={d.discarded_at}>{when(d.discarded_at)}</time>
                  </li>
                ))}
              </ul>
            </>
          )}
        </section>
      </div>
    </section>
  );
});

export const head: DocumentHead = { title: 'Máquinas de estado · Lívia' };
