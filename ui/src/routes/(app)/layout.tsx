import { $, component$, Slot, useContextProvider, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { useNavigate, type RequestHandler } from '@builder.io/qwik-city';
import {
  clearToken,
  fetchCurrentUser,
  readToken,
  ROLE_LABELS,
  SessionContext,
  TOKEN_COOKIE,
  type SessionState,
} from '../../lib/session';

// The cookie only says a token was issued; the API still checks it on every call (see the task below).
export const onRequest: RequestHandler = ({ cookie, redirect }) => {
  if (!cookie.get(TOKEN_COOKIE)?.value) {
    throw redirect(302, '/login');
  }
};

/** The frame of every signed-in page: who is signed in, and the way out. */
export default component$(() => {
  const nav = useNavigate();
  const session = useStore<SessionState>({ status: 'loading', user: null, message: '' });
  useContextProvider(SessionContext, session);

  // The token lives in the browser, so the browser asks the API who it belongs to.
  useVisibleTask$(
    async () => {
      const token = readToken();
      const result = token ? await fetchCurrentUser(token) : { kind: 'unauthorized' as const };
      if (result.kind === 'unauthorized') {
        clearToken();
        await nav('/login');
        return;
      }
      if (result.kind === 'error') {
        session.status = 'error';
        session.message = result.message;
        return;
      }
      session.user = result.user;
      session.status = 'ready';
    },
    { strategy: 'document-ready' },
  );

  const signOut = $(async () => {
    clearToken();
    await nav('/login');
  });

  return (
    <div class="shell">
      <header class="topbar">
        <a href="/" class="brand">
          Lívia
        </a>
        <a href="/chats" data-testid="nav-chats">
          WhatsApp
        </a>
        <div class="account">
          {session.user ? (
            <>
              <span class="user" data-testid="current-user">
                {session.user.name}
              </span>
              <span class="role" data-testid="current-role" data-role={session.user.role}>
                {ROLE_LABELS[session.user.role] ?? session.user.role}
              </span>
            </>
          ) : (
            <span class="muted">{session.status === 'error' ? session.message : 'Carregando…'}</span>
          )}
          <button type="button" class="button" onClick$={signOut} data-testid="logout">
            Sair
          </button>
        </div>
      </header>
      <main class="content">
        <Slot />
      </main>
    </div>
  );
});
