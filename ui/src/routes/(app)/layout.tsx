import { $, component$, Slot, useContextProvider, useSignal, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { Link, routeLoader$, useLocation, type RequestHandler } from '@builder.io/qwik-city';
import { api, type ApiResult } from '../../lib/api';
import { coalesced } from '../../lib/coalesced';
import type { Notification } from '../../lib/model';
import { serverApi } from '../../lib/server-api';
import { canManageTeam, logout, ROLE_LABELS, SESSION_COOKIE, SessionContext, type User } from '../../lib/session';

// Without the cookie there is no session to check: straight to /login, before rendering anything.
export const onRequest: RequestHandler = ({ cookie, redirect }) => {
  if (!cookie.get(SESSION_COOKIE)?.value) throw redirect(302, '/login');
};

/** Who is signed in, asked of the API with the page request's cookie; an ended session goes to /login. */
export const useSession = routeLoader$(async (ev) => {
  const me = await serverApi<User>(ev, '/api/auth/me');
  if (me.status === 401) {
    ev.cookie.delete(SESSION_COOKIE, { path: '/' });
    throw ev.redirect(302, '/login?reason=expired');
  }
  return me.ok ? { user: me.data, message: '' } : { user: null, message: me.message };
});

export const useNotifications = routeLoader$(async (ev) => {
  const list = await serverApi<Notification[]>(ev, '/api/notifications?limit=30');
  return list.ok ? list.data : [];
});

/** Whether the WhatsApp simulator runs (its routes answer 404 otherwise); only admins may use it. */
export const useSimulator = routeLoader$(async (ev) => {
  const me = await ev.resolveValue(useSession);
  if (me.user?.role !== 'ADMIN') return false;
  const probe = await serverApi<unknown>(ev, '/api/simulator/messages?to=%2B550000000000');
  return probe.ok;
});

interface Toast {
  id: number;
  text: string;
  href: string | null;
}

/** The frame of every signed-in page: navigation, notifications, who is signed in, the way out. */
export default component$(() => {
  const session = useSession();
  const initial = useNotifications();
  const simulator = useSimulator().value;
  const location = useLocation();
  const user = session.value.user;
  useContextProvider(SessionContext, { user });

  const inbox = useStore({ items: initial.value as Notification[], open: false, message: '' });
  const toasts = useStore<{ list: Toast[] }>({ list: [] });
  const bellPanel = useSignal<HTMLElement>();

  // The socket (or SSE) is the one thing that must run in the browser without a click.
  useVisibleTask$(
    async ({ cleanup }) => {
      const { connectLive } = await import('../../lib/live');
      /** Notifications told live while a catch-up read runs: the read may have missed them. */
      let told: Set<number> | undefined;
      /** Toasted once each: a catch-up read may list a notification before its live event comes. */
      const toasted = new Set<number>();
      const onNotification = (e: Event) => {
        const n = (e as CustomEvent<Notification>).detail;
        told?.add(n.id);
        if (toasted.has(n.id)) return;
        toasted.add(n.id);
        if (!inbox.items.some((x) => x.id === n.id)) inbox.items = [n, ...inbox.items].slice(0, 50);
        const toast = { id: n.id, text: n.body ? `${n.title}: ${n.body}` : n.title, href: n.lead_id ? `/leads/${n.lead_id}` : null };
        toasts.list = [...toasts.list, toast];
        setTimeout(() => (toasts.list = toasts.list.filter((t) => t.id !== toast.id)), 10_000);
      };
      // What was notified while no live connection was open (between the render and the first
      // connect, or while it was down) was never told: on each connect the list is read again.
      // A connect during a catch-up makes it run once more.
      const catchUp = coalesced(async () => {
        const seen = (told = new Set());
        let r: ApiResult<Notification[]>;
        try {
          r = await api<Notification[]>(`/api/notifications?limit=${Math.max(30, inbox.items.length)}`);
        } finally {
          told = undefined;
        }
        if (!r.ok) return;
        // This page only ever marks read, and a mark answered during the read may not be in it.
        const read = new Set(inbox.items.filter((n) => n.read).map((n) => n.id));
        const fresh = new Set(r.data.map((n) => n.id));
        const items = [...inbox.items.filter((n) => seen.has(n.id) && !fresh.has(n.id)), ...r.data.map((n) => (read.has(n.id) ? { ...n, read: true } : n))]
          .sort((a, b) => b.id - a.id)
          .slice(0, 50);
        // Replaced only when something changed: a connect that brings nothing new runs no render code.
        if (JSON.stringify(items) !== JSON.stringify(inbox.items)) inbox.items = items;
      });
      const onConnected = () => void catchUp();
      window.addEventListener('livia-notification', onNotification);
      // Listening before the connection starts: no connect can come before this listener.
      window.addEventListener('livia-connected', onConnected);
      const stop = connectLive();
      cleanup(() => {
        stop();
        window.removeEventListener('livia-notification', onNotification);
        window.removeEventListener('livia-connected', onConnected);
      });
    },
    { strategy: 'document-ready' },
  );

  const markRead = $(async (id: number) => {
    const r = await api<Notification>(`/api/notifications/${id}`, { method: 'PATCH', body: { read: true } });
    if (r.ok) inbox.items = inbox.items.map((n) => (n.id === id ? r.data : n));
    else inbox.message = r.message;
  });
  const markAllRead = $(async () => {
    const r = await api<{ updated: number }>('/api/notifications/read-all', { method: 'POST' });
    if (r.ok) inbox.items = inbox.items.map((n) => ({ ...n, read: true }));
    else inbox.message = r.message;
  });

  const unread = inbox.items.filter((n) => !n.read).length;
  const path = location.url.pathname;
  const manager = canManageTeam(user?.role);

  return (
    <div class="shell">
      <a class="skip" href="#main">
        Pular para o conteúdo
      </a>
      <header class="topbar">
        <Link href="/" class="brand">
          Lívia
        </Link>
        <nav aria-label="Principal" class="nav">
          <Link href="/" aria-current={path === '/' ? 'page' : undefined}>
            Quadro
          </Link>
          {manager && (
            <Link href="/analytics" aria-current={path.startsWith('/analytics') ? 'page' : undefined}>
              Análises
            </Link>
          )}
          {manager && (
            <Link href="/admin/consultants" aria-current={path.startsWith('/admin') ? 'page' : undefined}>
              Equipe
            </Link>
          )}
          {manager && (
            <Link href="/machines" aria-current={path.startsWith('/machines') ? 'page' : undefined}>
              Máquinas
            </Link>
          )}
          <Link href="/chats" data-testid="nav-chats" aria-current={path.startsWith('/chats') ? 'page' : undefined}>
            Chats
          </Link>
          <Link href="/conversations" data-testid="nav-conversations" aria-current={path.startsWith('/conversations') ? 'page' : undefined}>
            Conversas (Lívia)
          </Link>
          {user?.role === 'ADMIN' && simulator && (
            <Link href="/simulator" data-testid="nav-simulator" aria-current={path.startsWith('/simulator') ? 'page' : undefined}>
              Simulador
            </Link>
          )}
        </nav>
        <div class="account">
          <div class="bell-wrap">
            <button
              type="button"
              class="button bell"
              aria-expanded={inbox.open}
              aria-controls="notification-panel"
              aria-label={`Notificações: ${unread} não lidas`}
              data-testid="bell"
              onClick$={() => (inbox.open = !inbox.open)}
            >
              <svg aria-hidden="true" width="18" height="18" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
                <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
                <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
              </svg>
              {unread > 0 && (
                <span class="badge-count" data-testid="bell-count">
                  {unread}
                </span>
              )}
            </button>
            {inbox.open && (
              <section
                id="notification-panel"
                class="bell-panel"
                aria-label="Notificações"
                ref={bellPanel}
                data-testid="notification-panel"
                onKeyDown$={(e: KeyboardEvent) => {
                  if (e.key !== 'Escape') return;
                  inbox.open = false;
                  document.querySelector<HTMLElement>('[data-testid="bell"]')?.focus();
                }}
              >
                <div class="bell-head">
                  <strong>Notificações</strong>
                  <button type="button" class="link-button" onClick$={markAllRead} disabled={unread === 0} data-testid="read-all">
                    Marcar todas como lidas
                  </button>
                </div>
                {inbox.message && <p class="error">{inbox.message}</p>}
                {inbox.items.length === 0 ? (
                  <p class="muted">Nenhuma notificação.</p>
                ) : (
                  <ul class="bell-list">
                    {inbox.items.map((n) => (
                      <li key={n.id} class={n.read ? 'read' : 'unread'} data-notification-id={n.id}>
                        <div>
                          {n.lead_id ? <a href={`/leads/${n.lead_id}`}>{n.title}</a> : <span>{n.title}</span>}
                          <div class="muted small">{n.body}</div>
                        </div>
                        {!n.read && (
                          <button type="button" class="link-button" onClick$={() => markRead(n.id)} aria-label={`Marcar "${n.title}" como lida`}>
                            Lida
                          </button>
                        )}
                      </li>
                    ))}
                  </ul>
                )}
              </section>
            )}
          </div>
          {user ? (
            <span class="user">
              <span data-testid="current-user">{user.name}</span>{' '}
              <span class="role" data-testid="current-role" data-role={user.role}>
                {ROLE_LABELS[user.role] ?? user.role}
              </span>
            </span>
          ) : (
            <span class="error">{session.value.message}</span>
          )}
          <button type="button" class="button" onClick$={() => logout()} data-testid="logout">
            Sair
          </button>
        </div>
      </header>
      <main class="content" id="main">
        {user ? (
          <Slot />
        ) : (
          <section class="card" role="alert">
            <h1>Não foi possível carregar sua sessão</h1>
            <p>{session.value.message}</p>
            <a class="button" href={location.url.pathname + location.url.search}>
              Tentar novamente
            </a>
          </section>
        )}
      </main>
      <div class="toasts" aria-live="polite" data-testid="toasts">
        {toasts.list.map((t) => (
          <div key={t.id} class="toast" role="status" data-testid="toast">
            <span>{t.text}</span>
            {t.href && (
              <a href={t.href} data-testid="toast-link">
                Abrir lead
              </a>
            )}
            <button type="button" class="link-button" aria-label="Fechar aviso" onClick$={() => (toasts.list = toasts.list.filter((x) => x.id !== t.id))}>
              ✕
            </button>
          </div>
        ))}
      </div>
    </div>
  );
});
