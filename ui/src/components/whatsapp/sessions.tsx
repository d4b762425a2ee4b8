import { $, component$, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { api } from '../../lib/api';
import { useWindowEvents } from '../../lib/window-events';
import { SESSION_NAMES, SESSION_STATUS, type WaSession } from './model';

/**
 * Each WhatsApp session's state, for everyone, live (`whatsapp:session`). Admins also get the pairing
 * QR (replaced as it rotates), a pairing code by phone number, logout and reconnect; the reason is
 * shown when a session was replaced, logged out or failed.
 */
export const Sessions = component$<{ admin: boolean; initial?: WaSession[] }>(({ admin, initial }) => {
  const state = useStore({ sessions: initial ?? ([] as WaSession[]), codes: {} as Record<string, string>, message: '' });

  // Rendered with the page when it came with it; read again on every (re)connection and slowly after
  // that, and replaced only when a session changed (a page that shows nothing new runs no render code).
  useVisibleTask$(({ cleanup }) => {
    const load = async () => {
      const r = await api<WaSession[]>('/api/whatsapp/sessions');
      if (!r.ok) {
        state.message = r.message;
        return;
      }
      if (JSON.stringify(r.data) !== JSON.stringify(state.sessions)) state.sessions = r.data;
    };
    if (!initial || document.documentElement.dataset.live === 'socket') void load();
    const timer = setInterval(() => void load(), 60_000);
    const again = () => void load();
    window.addEventListener('livia-connected', again);
    cleanup(() => {
      clearInterval(timer);
      window.removeEventListener('livia-connected', again);
    });
  }, { strategy: 'document-ready' });
  useWindowEvents({
    'livia-wa-session': $((e: Event) => {
      const v = (e as CustomEvent<WaSession>).detail;
      state.sessions = state.sessions.some((s) => s.name === v.name) ? state.sessions.map((s) => (s.name === v.name ? v : s)) : [...state.sessions, v];
    }),
  });

  const act = $(async (name: string, action: 'logout' | 'reconnect') => {
    if (action === 'logout' && !confirm(`Desconectar a sessão ${SESSION_NAMES[name] ?? name}? Será preciso parear de novo.`)) return;
    const r = await api(`/api/whatsapp/sessions/${name}/${action}`, { method: 'POST' });
    state.message = r.ok ? (action === 'logout' ? 'Sessão desconectada.' : 'Reconectando…') : r.message;
  });

  return (
    <section class="card sessions" aria-labelledby="sessions-title" data-testid="sessions">
      <h2 id="sessions-title">Sessões do WhatsApp</h2>
      {state.message && (
        <p class="muted" role="status">
          {state.message}
        </p>
      )}
      <ul class="session-list">
        {state.sessions.map((s) => (
          <li key={s.name} class="session" data-session={s.name} data-status={s.status}>
            <strong>{SESSION_NAMES[s.name] ?? s.name}</strong>{' '}
            <span class={`pill status-${s.status}`}>{SESSION_STATUS[s.status] ?? s.status}</span>
            {s.phone && <span class="muted"> · {s.phone}</span>}
            {s.reason && (s.status === 'replaced' || s.status === 'loggedOut' || s.status === 'failed' || s.status === 'reconnecting') && (
              <span class="error" data-testid="session-reason">
                {' '}
                · {s.reason}
              </span>
            )}
            {admin && s.qr && (
              <figure class="qr-box">
                <img class="qr" src={s.qr} width={220} height={220} alt={`QR para parear a sessão ${SESSION_NAMES[s.name] ?? s.name}`} data-testid="qr" />
                <figcaption class="muted small">No celular: WhatsApp › Aparelhos conectados › Conectar aparelho.</figcaption>
              </figure>
            )}
            {admin && (
              <div class="session-actions">
                {s.status === 'pairing' && (
                  <form
                    class="form-row"
                    preventdefault:submit
                    onSubmit$={async (_, form: HTMLFormElement) => {
                      const phone = String(new FormData(form).get('phone') ?? '').trim();
                      const r = await api<{ code: string }>(`/api/whatsapp/sessions/${s.name}/pairing-code`, { method: 'POST', body: { phone } });
                      if (r.ok) state.codes = { ...state.codes, [s.name]: r.data.code };
                      else state.message = r.message;
                    }}
                  >
                    <label class="field">
                      <span>Parear por número</span>
                      <input name="phone" type="tel" required placeholder="+55 11 98765-4321" data-testid="pairing-phone" />
                    </label>
                    <button type="submit" class="button">
                      Pedir código
                    </button>
                    {state.codes[s.name] && (
                      <output class="pairing-code" data-testid="pairing-code">
                        {state.codes[s.name]}
                      </output>
                    )}
                  </form>
                )}
                <button type="button" class="button" onClick$={() => act(s.name, 'reconnect')} data-testid="reconnect">
                  Reconectar
                </button>
                <button type="button" class="button danger" onClick$={() => act(s.name, 'logout')} data-testid="session-logout">
                  Desconectar
                </button>
              </div>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
});
