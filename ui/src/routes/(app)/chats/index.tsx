import { $, component$, useStore, useVisibleTask$ } from '@builder.io/qwik';
import type { DocumentHead } from '@builder.io/qwik-city';

/**
 * The consultant WhatsApp inbox: each session's state (with the pairing QR), the chats this user may
 * see (a consultant: their own leads), a chat's messages with images shown and voice notes playable,
 * and a reply box. Media is fetched with the session cookie and shown from a blob URL. The lists are
 * refreshed every few seconds.
 */
interface Session {
  name: string;
  status: string;
  qr?: string;
  phone?: string;
  reason?: string;
}
interface Chat {
  id: string;
  session: string;
  phone: string | null;
  name: string | null;
  lead_id: string | null;
  unread: number;
  last_message: { text: string | null; kind: string; at: string } | null;
}
interface Media {
  id: string;
  type: string;
  mime: string;
  status: string;
  file_name: string | null;
  url: string;
}
interface Message {
  id: string;
  direction: 'in' | 'out';
  kind: string;
  text: string | null;
  status: string;
  failure: string | null;
  at: string;
  edited: boolean;
  deleted: boolean;
  media?: Media;
}

const STATUS_LABELS: Record<string, string> = {
  connecting: 'conectando',
  pairing: 'aguardando pareamento',
  open: 'conectado',
  reconnecting: 'reconectando',
  loggedOut: 'desconectado',
  replaced: 'aberto em outro lugar',
  failed: 'falhou',
};
const MESSAGE_STATUS: Record<string, string> = { pending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓ lida', failed: '⚠ falhou', received: '', };

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  // Same origin: the session cookie goes with the request (and the Origin header with a mutation).
  const res = await fetch(path, { ...init, credentials: 'same-origin', headers: { Accept: 'application/json', ...init.headers } });
  if (!res.ok) throw new Error(String(res.status));
  return (await res.json()) as T;
}

export default component$(() => {
  const state = useStore({
    sessions: [] as Session[],
    chats: [] as Chat[],
    selected: '' as string,
    messages: [] as Message[],
    media: {} as Record<string, string>,
    draft: '',
    error: '',
  });

  const loadMedia = $(async (messages: Message[]) => {
    for (const m of messages) {
      if (!m.media || m.media.status !== 'stored' || state.media[m.media.id]) continue;
      const res = await fetch(m.media.url, { credentials: 'same-origin' });
      if (res.ok) state.media[m.media.id] = URL.createObjectURL(await res.blob());
    }
  });

  const openChat = $(async (id: string) => {
    state.selected = id;
    state.messages = await api<Message[]>(`/api/whatsapp/chats/${id}/messages?limit=100`);
    await loadMedia(state.messages);
    await api(`/api/whatsapp/chats/${id}/read`, { method: 'POST' }).catch(() => {});
  });

  const refresh = $(async () => {
    try {
      state.sessions = await api<Session[]>('/api/whatsapp/sessions');
      state.chats = await api<Chat[]>('/api/whatsapp/chats');
      if (state.selected) {
        state.messages = await api<Message[]>(`/api/whatsapp/chats/${state.selected}/messages?limit=100`);
        await loadMedia(state.messages);
      }
      state.error = '';
    } catch {
      state.error = 'Não foi possível carregar o WhatsApp agora.';
    }
  });

  const send = $(async () => {
    const text = state.draft.trim();
    if (!text || !state.selected) return;
    state.draft = '';
    await api(`/api/whatsapp/chats/${state.selected}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text }),
    }).catch(() => (state.error = 'A mensagem não pôde ser enviada.'));
    await refresh();
  });

  useVisibleTask$(({ cleanup }) => {
    void refresh();
    const timer = setInterval(() => void refresh(), 3000);
    cleanup(() => clearInterval(timer));
  });

  return (
    <section class="inbox" data-testid="inbox">
      <div class="card sessions">
        <h1>WhatsApp</h1>
        {state.sessions.map((s) => (
          <div key={s.name} class="session" data-session={s.name} data-status={s.status}>
            <strong>{s.name === 'livia' ? 'Lívia' : s.name === 'consultant' ? 'Consultores' : s.name}</strong>{' '}
            <span class="muted">
              {STATUS_LABELS[s.status] ?? s.status}
              {s.phone ? ` · ${s.phone}` : ''}
              {s.reason ? ` · ${s.reason}` : ''}
            </span>
            {s.qr && <img class="qr" src={s.qr} width={200} height={200} alt={`QR para parear ${s.name}`} />}
          </div>
        ))}
        {state.error && <p class="error">{state.error}</p>}
      </div>
      <div class="inbox-body">
        <ul class="card chat-list" data-testid="chat-list">
          {state.chats.length === 0 && <li class="muted">Nenhuma conversa.</li>}
          {state.chats.map((c) => (
            <li key={c.id} data-chat={c.id} class={c.id === state.selected ? 'selected' : ''}>
              <button type="button" class="chat" onClick$={() => openChat(c.id)}>
                <strong>{c.name ?? c.phone}</strong> {c.unread > 0 && <span class="badge">{c.unread}</span>}
                <br />
                <span class="muted">{c.last_message?.text ?? c.last_message?.kind ?? ''}</span>
              </button>
            </li>
          ))}
        </ul>
        <div class="card thread" data-testid="thread">
          {!state.selected && <p class="muted">Escolha uma conversa.</p>}
          {state.messages.map((m) => (
            <div key={m.id} class={`bubble ${m.direction}`} data-message={m.id} data-kind={m.kind}>
              {m.media && m.media.status === 'stored' && state.media[m.media.id] && (m.media.type === 'image' || m.media.type === 'sticker') && (
                <img src={state.media[m.media.id]} alt={m.text ?? 'imagem'} class="media" />
              )}
              {m.media && m.media.status === 'stored' && state.media[m.media.id] && (m.media.type === 'voice' || m.media.type === 'audio') && (
                <audio controls src={state.media[m.media.id]} />
              )}
              {m.media && m.media.status === 'stored' && state.media[m.media.id] && m.media.type === 'video' && <video controls src={state.media[m.media.id]} class="media" />}
              {m.media && m.media.status === 'stored' && state.media[m.media.id] && m.media.type === 'document' && (
                <a href={state.media[m.media.id]} download={m.media.file_name ?? 'arquivo'}>
                  📄 {m.media.file_name ?? 'arquivo'}
                </a>
              )}
              {m.media && m.media.status === 'too_large' && <span class="muted">[mídia acima do limite; não baixada]</span>}
              {m.kind === 'ciphertext' && <span class="muted">[mensagem que não pôde ser lida]</span>}
              {m.deleted ? <em class="muted">mensagem apagada</em> : m.text && <span>{m.text}</span>}
              {m.edited && <span class="muted"> (editada)</span>}
              <small class="muted">
                {' '}
                {new Date(m.at).toLocaleTimeString('pt-BR', { hour: '2-digit', minute: '2-digit' })} {m.direction === 'out' ? (MESSAGE_STATUS[m.status] ?? m.status) : ''}
                {m.failure ? ` (${m.failure})` : ''}
              </small>
            </div>
          ))}
          {state.selected && (
            <form preventdefault:submit onSubmit$={send} class="reply">
              <input
                type="text"
                value={state.draft}
                onInput$={(_, el) => (state.draft = el.value)}
                placeholder="Escreva uma mensagem"
                aria-label="Mensagem"
                data-testid="reply"
              />
              <button type="submit" class="button">
                Enviar
              </button>
            </form>
          )}
        </div>
      </div>
    </section>
  );
});

export const head: DocumentHead = {
  title: 'WhatsApp',
};
