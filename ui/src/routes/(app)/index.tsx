import { $, component$, sync$, useContext, useSignal, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { routeLoader$, useLocation, useNavigate, type DocumentHead } from '@builder.io/qwik-city';
import { api, type ApiResult } from '../../lib/api';
import { coalesced } from '../../lib/coalesced';
import type { LeadEvent } from '../../lib/live';
import {
  age,
  formatPhone,
  STATUS_LABELS,
  STATUSES,
  TEMPERATURE_LABELS,
  TEMPERATURES,
  type Consultant,
  type Lead,
  type LeadStatus,
} from '../../lib/model';
import { serverApi } from '../../lib/server-api';
import { canManageTeam, SessionContext } from '../../lib/session';
import { useSession } from './layout';

/** Cards per column and per "load more": 2,000 leads never reach the page at once. */
const PAGE = 25;

interface Filters {
  consultant: string;
  temperature: string;
  source: string;
  q: string;
}

interface Column {
  items: Lead[];
  cursor: string | null;
  count: number;
  loading: boolean;
}

type Page = { items: Lead[]; next_cursor: string | null };

/** The API's order: newest first, id breaking ties. */
const newestFirst = (a: Lead, b: Lead) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1);

function filterQuery(f: Filters): string {
  const p = new URLSearchParams();
  if (f.consultant) p.set('consultant_id', f.consultant);
  if (f.temperature) p.set('temperature', f.temperature);
  if (f.source) p.set('source', f.source);
  if (f.q) p.set('q', f.q);
  return p.toString();
}

/** A page of one column: `limit` leads of `status`, after `cursor`, filtered by `query`. */
function pageUrl(status: LeadStatus, query: string, limit: number, cursor: string | null = null): string {
  return `/api/leads?status=${status}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}${query ? `&${query}` : ''}`;
}

function readFilters(url: URL): Filters {
  const get = (k: string) => (url.searchParams.get(k) ?? '').trim();
  return { consultant: get('consultant'), temperature: get('temperature'), source: get('source'), q: get('q') };
}

/** The first page of every column, the counts, and (for managers) the team for the filter. */
export const useBoard = routeLoader$(async (ev) => {
  const filters = readFilters(ev.url);
  const query = filterQuery(filters);
  const me = await ev.resolveValue(useSession);
  const manager = canManageTeam(me.user?.role);
  const [pages, counts, team] = await Promise.all([
    Promise.all(STATUSES.map((s) => serverApi<Page>(ev, pageUrl(s, query, PAGE)))),
    serverApi<Record<LeadStatus, number>>(ev, `/api/leads/counts${query ? `?${query}` : ''}`),
    manager ? serverApi<Consultant[]>(ev, '/api/consultants') : Promise.resolve(null),
  ]);
  const failed = [...pages, counts, ...(team ? [team] : [])].find((r) => !r.ok);
  if (failed && !failed.ok) return { ok: false as const, message: failed.message, filters };
  const columns = {} as Record<LeadStatus, Column>;
  STATUSES.forEach((s, i) => {
    const page = pages[i]!;
    columns[s] = {
      items: page.ok ? page.data.items : [],
      cursor: page.ok ? page.data.next_cursor : null,
      count: counts.ok ? (counts.data[s] ?? 0) : 0,
      loading: false,
    };
  });
  const consultants = team?.ok ? team.data.filter((c) => c.role === 'CONSULTANT' || c.open_leads > 0).map((c) => ({ id: c.id, name: c.name })) : [];
  return { ok: true as const, columns, consultants, filters };
});

export default component$(() => {
  const board = useBoard();
  const location = useLocation();
  const session = useContext(SessionContext);
  if (!board.value.ok) {
    return (
      <section class="card" role="alert" data-testid="board-error">
        <h1>Não foi possível carregar o quadro</h1>
        <p>{board.value.message}</p>
        <a class="button" href={location.url.pathname + location.url.search}>
          Tentar novamente
        </a>{' '}
        {location.url.search && (
          <a class="button" href="/">
            Limpar filtros
          </a>
        )}
      </section>
    );
  }
  return <Board key={location.url.search} initial={board.value.columns} filters={board.value.filters} consultants={board.value.consultants} manager={canManageTeam(session.user?.role)} />;
});

interface BoardProps {
  initial: Record<LeadStatus, Column>;
  filters: Filters;
  consultants: { id: string; name: string }[];
  manager: boolean;
}

const Board = component$<BoardProps>(({ initial, filters, consultants, manager }) => {
  const state = useStore({ columns: initial, message: '', moving: null as string | null }, { deep: true });
  const dialog = useSignal<HTMLDialogElement>();
  const nav = useNavigate();

  const matches = $((lead: Lead): boolean => {
    if (filters.consultant && lead.consultant_id !== filters.consultant) return false;
    if (filters.temperature && lead.ai_temperature !== filters.temperature) return false;
    if (filters.source && lead.source !== filters.source) return false;
    if (filters.q) {
      const q = filters.q.toLowerCase();
      const digits = q.replace(/\D/g, '');
      const hit = lead.name.toLowerCase().includes(q) || (lead.email ?? '').toLowerCase().includes(q) || (digits.length >= 3 && (lead.phone ?? '').includes(digits));
      if (!hit) return false;
    }
    return true;
  });

  const find = $((id: string): { status: LeadStatus; lead: Lead } | undefined => {
    for (const s of STATUSES) {
      const lead = state.columns[s].items.find((l) => l.id === id);
      if (lead) return { status: s, lead };
    }
    return undefined;
  });

  /** Puts `lead` in its status column (newest first), out of any other; `false` leaves it out. */
  const place = $((lead: Lead, show: boolean) => {
    let shown = false;
    for (const s of STATUSES) {
      const col = state.columns[s];
      if (!col.items.some((l) => l.id === lead.id)) continue;
      if (s === lead.status) shown = true;
      col.items = col.items.filter((l) => l.id !== lead.id);
    }
    if (!show) return;
    const col = state.columns[lead.status];
    const items = [...col.items, lead].sort(newestFirst);
    // Older than the loaded window: "load more" will bring it, in its place. A card already in the
    // window stays, though it is the last one (the next page starts after it).
    const last = items[items.length - 1];
    col.items = col.cursor && !shown && last?.id === lead.id ? items.slice(0, -1) : items;
  });

  const refreshCounts = $(async () => {
    const query = filterQuery(filters);
    const r = await api<Record<LeadStatus, number>>(`/api/leads/counts${query ? `?${query}` : ''}`);
    if (r.ok) for (const s of STATUSES) state.columns[s].count = r.data[s] ?? 0;
  });

  const move = $(async (id: string | undefined, to: LeadStatus) => {
    if (!id) return;
    const found = await find(id);
    if (!found || found.status === to) return;
    const before = found.lead;
    state.message = '';
    await place({ ...before, status: to }, true);
    state.columns[found.status].count -= 1;
    state.columns[to].count += 1;
    const r = await api<Lead>(`/api/leads/${id}`, { method: 'PATCH', body: { version: before.version, status: to } });
    if (r.ok) {
      await place(r.data, await matches(r.data));
      return;
    }
    // Rolled back where it was, with the reason; a conflict also brings the lead as it is now.
    state.columns[found.status].count += 1;
    state.columns[to].count -= 1;
    await place(before, true);
    state.message = `Não foi possível mover "${before.name}" para ${STATUS_LABELS[to]}. ${r.message}`;
    if (r.status === 409) {
      const fresh = await api<Lead>(`/api/leads/${id}`);
      if (fresh.ok) await place(fresh.data, await matches(fresh.data));
      await refreshCounts();
    }
  });

  const loadMore = $(async (s: LeadStatus) => {
    const col = state.columns[s];
    if (!col.cursor || col.loading) return;
    col.loading = true;
    const query = filterQuery(filters);
    const r = await api<Page>(pageUrl(s, query, PAGE, col.cursor));
    col.loading = false;
    if (!r.ok) {
      state.message = r.message;
      return;
    }
    const known = new Set(col.items.map((l) => l.id));
    col.items = [...col.items, ...r.data.items.filter((l) => !known.has(l.id))];
    col.cursor = r.data.next_cursor;
  });

  // Live: every lead created or changed anywhere lands in its column at once.
  useVisibleTask$(({ cleanup }) => {
    let countsTimer: ReturnType<typeof setTimeout> | undefined;
    /** Leads told live while a catch-up read runs: what they say is newer than what it reads. */
    let told: Set<string> | undefined;
    /** A column's loaded window (at least a page), read again from the API. */
    const reread = async (s: LeadStatus, query: string) => {
      const wanted = Math.max(PAGE, state.columns[s].items.length);
      const items: Lead[] = [];
      let cursor: string | null = null;
      do {
        const r: ApiResult<Page> = await api<Page>(pageUrl(s, query, Math.min(200, wanted - items.length), cursor));
        if (!r.ok) return undefined;
        items.push(...r.data.items);
        cursor = r.data.next_cursor;
      } while (cursor && items.length < wanted);
      return { s, items, cursor };
    };
    // What changed while no live connection was open (before the socket first connected, or while
    // it was down) was never told: on each connect, every column's loaded window is read again.
    // A connect during a catch-up makes it run once more.
    const catchUp = coalesced(async () => {
      const seen = (told = new Set());
      try {
        const query = filterQuery(filters);
        for (const w of await Promise.all(STATUSES.map((s) => reread(s, query)))) {
          if (!w) continue;
          const col = state.columns[w.s];
          col.items = [...w.items.filter((l) => !seen.has(l.id)), ...col.items.filter((l) => seen.has(l.id))].sort(newestFirst);
          col.cursor = w.cursor;
        }
      } finally {
        told = undefined;
      }
      await refreshCounts();
    });
    const onLead = async (e: Event) => {
      const { lead } = (e as CustomEvent<LeadEvent>).detail;
      told?.add(lead.id);
      const before = await find(lead.id);
      // An event for a version the board already shows (the answer to this page's own move came
      // first) or an older one (overtaken by a newer event) changes nothing: no re-render, so the
      // keyboard user's focus stays where it is, and a card never goes back in time.
      if (before && before.lead.version >= lead.version) return;
      const show = await matches(lead);
      await place(lead, show);
      // Counted at once for what the board knew; the refresh below settles leads it had not loaded.
      if (before && before.status !== lead.status) state.columns[before.status].count -= 1;
      if (show && before?.status !== lead.status) state.columns[lead.status].count += 1;
      if (before && !show && before.status === lead.status) state.columns[before.status].count -= 1;
      clearTimeout(countsTimer);
      countsTimer = setTimeout(() => void refreshCounts(), 300);
    };
    // Reassigned away from me: the card goes, and so does its count.
    const onRemoved = async (e: Event) => {
      told?.add((e as CustomEvent<{ id: string }>).detail.id);
      const before = await find((e as CustomEvent<{ id: string }>).detail.id);
      if (!before) return;
      state.columns[before.status].items = state.columns[before.status].items.filter((l) => l.id !== before.lead.id);
      state.columns[before.status].count -= 1;
    };
    const onConnected = () => void catchUp();
    window.addEventListener('livia-lead', onLead);
    window.addEventListener('livia-lead-removed', onRemoved);
    window.addEventListener('livia-connected', onConnected);
    // Connected before this ran: what was told in between reached no listener.
    if (document.documentElement.dataset.live === 'socket') void catchUp();
    cleanup(() => {
      window.removeEventListener('livia-lead', onLead);
      window.removeEventListener('livia-lead-removed', onRemoved);
      window.removeEventListener('livia-connected', onConnected);
      clearTimeout(countsTimer);
    });
  });

  const openMoveDialog = $((id: string) => {
    state.moving = id;
    dialog.value?.showModal();
  });
  const chooseTarget = $(async (to: LeadStatus) => {
    const id = state.moving;
    dialog.value?.close();
    state.moving = null;
    await move(id ?? undefined, to);
    if (!id) return;
    // The card re-renders in its new column (or back in its old one on a refusal) after this state
    // change: keep the keyboard user's place by focusing it once it is there.
    for (let frame = 0; frame < 30; frame++) {
      const el = (document.querySelector(`[data-status="${to}"] [data-lead-id="${id}"]`) ??
        (frame > 10 ? document.querySelector(`[data-lead-id="${id}"]`) : null)) as HTMLElement | null;
      if (el?.isConnected) {
        el.focus();
        if (document.activeElement === el) return;
      }
      await new Promise((r) => requestAnimationFrame(r));
    }
  });

  const sources = [...new Set(STATUSES.flatMap((s) => state.columns[s].items.map((l) => l.source)))].sort();
  const movingLead = state.moving ? STATUSES.flatMap((s) => state.columns[s].items).find((l) => l.id === state.moving) : undefined;
  const now = Date.now();

  return (
    <div class="board-page">
      <div class="board-head">
        <h1>Quadro de leads</h1>
        <form method="get" action="/" class="filters" aria-label="Filtros" data-testid="filters">
          {manager && (
            <label>
              <span>Consultor</span>
              <select name="consultant" data-testid="filter-consultant">
                <option value="">Todos</option>
                {consultants.map((c) => (
                  <option key={c.id} value={c.id} selected={c.id === filters.consultant}>
                    {c.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <label>
            <span>Temperatura</span>
            <select name="temperature" data-testid="filter-temperature">
              <option value="">Todas</option>
              {TEMPERATURES.map((t) => (
                <option key={t} value={t} selected={t === filters.temperature}>
                  {TEMPERATURE_LABELS[t]}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>Origem</span>
            <input name="source" {...{ list: 'sources' }} value={filters.source} data-testid="filter-source" />
            <datalist id="sources">
              {sources.map((s) => (
                <option key={s} value={s} />
              ))}
            </datalist>
          </label>
          <label>
            <span>Busca</span>
            <input name="q" type="search" value={filters.q} placeholder="Nome, e-mail ou telefone" data-testid="filter-q" />
          </label>
          <button type="submit" class="button">
            Filtrar
          </button>
          {(filters.consultant || filters.temperature || filters.source || filters.q) && (
            <a href="/" class="button">
              Limpar
            </a>
          )}
        </form>
      </div>
      <p id="board-help" class="muted small">
        Arraste um cartão para outra coluna, ou foque um cartão e tecle Espaço (ou M) para escolher a coluna; Enter abre o lead.
      </p>
      {state.message && (
        <p class="error" role="alert" data-testid="board-message">
          {state.message}
        </p>
      )}
      <div class="board" data-testid="board">
        {STATUSES.map((s) => {
          const col = state.columns[s];
          return (
            <section
              key={s}
              class="column"
              data-status={s}
              aria-labelledby={`col-${s}`}
              onDragOver$={sync$((e: DragEvent) => e.preventDefault())}
              onDragEnter$={sync$((_: DragEvent, el: HTMLElement) => el.classList.add('drop'))}
              onDragLeave$={sync$((e: DragEvent, el: HTMLElement) => {
                if (!el.contains(e.relatedTarget as Node | null)) el.classList.remove('drop');
              })}
              onDrop$={[
                // DataTransfer can only be read while the event is dispatched, before any await.
                sync$((e: DragEvent, el: HTMLElement) => {
                  e.preventDefault();
                  el.classList.remove('drop');
                  el.dataset.dropped = e.dataTransfer?.getData('text/plain') ?? '';
                }),
                $((_: DragEvent, el: HTMLElement) => move(el.dataset.dropped, s)),
              ]}
            >
              <h2 id={`col-${s}`} class="column-title">
                {STATUS_LABELS[s]}{' '}
                <span class="count" data-testid="column-count" aria-label={`${col.count} leads`}>
                  {col.count}
                </span>
              </h2>
              {col.items.length === 0 ? (
                <p class="empty">Nenhum lead nesta coluna.</p>
              ) : (
                <ol class="cards">
                  {col.items.map((l) => (
                    <li
                      // The version in the key: a changed lead is a new element, never one bound to the old object.
                      key={`${l.id}:${l.version}`}
                      class="lead-card"
                      data-lead-id={l.id}
                      tabIndex={0}
                      draggable
                      aria-describedby="board-help"
                      aria-label={`${l.name}, ${STATUS_LABELS[l.status]}`}
                      onDragStart$={sync$((e: DragEvent, el: HTMLElement) => {
                        e.dataTransfer?.setData('text/plain', el.dataset.leadId ?? '');
                        if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move';
                      })}
                      onKeyDown$={[
                        sync$((e: KeyboardEvent, el: HTMLElement) => {
                          if (e.target === el && e.key === ' ') e.preventDefault();
                        }),
                        $((e: KeyboardEvent, el: HTMLElement) => {
                          if (e.target !== el) return;
                          if (e.key === 'Enter') return nav(`/leads/${l.id}`);
                          if (e.key === ' ' || e.key === 'm' || e.key === 'M') return openMoveDialog(l.id);
                        }),
                      ]}
                    >
                      <a href={`/leads/${l.id}`} class="lead-name" tabIndex={-1}>
                        {l.name}
                      </a>
                      <span class="lead-phone">{formatPhone(l.phone)}</span>
                      <span class="lead-meta">
                        {l.ai_temperature ? (
                          <span class={`temp temp-${l.ai_temperature.toLowerCase()}`} data-testid="temperature">
                            {TEMPERATURE_LABELS[l.ai_temperature]}
                          </span>
                        ) : (
                          <span class="temp">Sem classificação</span>
                        )}
                        <span title="Pontuação">{l.ai_score ?? '—'} pts</span>
                        <span>{l.source}</span>
                      </span>
                      <span class="lead-meta muted">
                        <span>{l.consultant?.name ?? 'Sem consultor'}</span>
                        <span>{age(l.created_at, now)}</span>
                      </span>
                    </li>
                  ))}
                </ol>
              )}
              {col.cursor && (
                <button type="button" class="button small" onClick$={() => loadMore(s)} disabled={col.loading} data-testid="load-more">
                  {col.loading ? 'Carregando…' : `Carregar mais (${Math.max(0, col.count - col.items.length)})`}
                </button>
              )}
            </section>
          );
        })}
      </div>
      <dialog ref={dialog} class="move-dialog" aria-labelledby="move-title" data-testid="move-dialog" onClose$={() => (state.moving = null)}>
        <h2 id="move-title">Mover {movingLead ? `"${movingLead.name}"` : 'lead'} para…</h2>
        <div class="move-targets">
          {STATUSES.map((s) => (
            <button key={s} type="button" class="button" disabled={movingLead?.status === s} onClick$={() => chooseTarget(s)} data-target-status={s}>
              {STATUS_LABELS[s]}
            </button>
          ))}
        </div>
        <button type="button" class="button" onClick$={() => dialog.value?.close()}>
          Cancelar
        </button>
      </dialog>
    </div>
  );
});

export const head: DocumentHead = {
  title: 'Quadro de leads',
};
