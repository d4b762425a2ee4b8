import { $, component$, useSignal, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { api } from '../../lib/api';
import { useWindowEvents } from '../../lib/window-events';
import { hasUnread, messagesKey, TICKS, timeOf, type WaMessage, type WaStatus } from './model';

/**
 * One WhatsApp chat's thread and composer, live: messages arrive with `whatsapp:message`, ticks move
 * with `whatsapp:message:status` (both relayed by lib/live.ts), and a slow refresh covers a lost socket.
 * Media is fetched with the session cookie and shown from blob: URLs (images inline, voice notes in a
 * player, documents to download). A failed message can be sent
 * again; Enter sends (the form's submit). Used by /chats and by the lead page.
 */
export const Thread = component$<{ chatId: string; title?: string; initial?: WaMessage[] }>(({ chatId, title, initial }) => {
  const state = useStore({
    messages: initial ?? ([] as WaMessage[]),
    media: {} as Record<string, string>,
    draft: '',
    error: '',
    busy: false,
    loaded: !!initial,
    /** The chat whose messages are in `messages` (rendered with the page when `initial` came with it). */
    shown: initial ? chatId : '',
  });
  const fileInput = useSignal<HTMLInputElement>();
  const list = useSignal<HTMLElement>();

  const loadMedia = $(async () => {
    for (const m of state.messages) {
      if (!m.media || m.media.status !== 'stored' || state.media[m.media.id]) continue;
      const res = await fetch(m.media.url, { credentials: 'same-origin' });
      if (res.ok) state.media = { ...state.media, [m.media.id]: URL.createObjectURL(await res.blob()) };
    }
  });

  const markRead = $(async () => {
    await api(`/api/whatsapp/chats/${chatId}/read`, { method: 'POST' });
  });

  const load = $(async () => {
    const r = await api<WaMessage[]>(`/api/whatsapp/chats/${chatId}/messages?limit=100`);
    if (!r.ok) {
      state.error = r.message;
      return;
    }
    state.messages = r.data;
    state.loaded = true;
    state.error = '';
    await loadMedia();
    if (r.data.some((m) => m.direction === 'in' && m.status !== 'read')) await markRead();
  });

  // The socket carries everything; a read on every (re)connection catches up with what it missed, and
  // a slow one covers a lost socket. What is shown is replaced only when a read brings something new,
  // so a thread rendered with the page runs none of its render code until a message comes.
  useVisibleTask$(({ track, cleanup }) => {
    const id = track(() => chatId);
    let stopped = false;
    const read = async () => {
      const r = await api<WaMessage[]>(`/api/whatsapp/chats/${id}/messages?limit=100`);
      // Another chat was opened meanwhile: this answer is not for the thread shown now.
      if (stopped) return;
      if (!r.ok) {
        state.error = r.message;
        return;
      }
      if (state.shown !== id || messagesKey(r.data) !== messagesKey(state.messages)) state.messages = r.data;
      if (state.shown !== id) state.shown = id;
      if (!state.loaded) state.loaded = true;
      if (state.error) state.error = '';
      if (r.data.some((m) => m.media?.status === 'stored' && !state.media[m.media.id])) await loadMedia();
      if (hasUnread(r.data)) await api(`/api/whatsapp/chats/${id}/read`, { method: 'POST' });
    };
    if (state.shown !== id) {
      state.messages = [];
      state.loaded = false;
      void read();
    } else {
      if (state.messages.some((m) => m.media?.status === 'stored' && !state.media[m.media.id])) void loadMedia();
      if (hasUnread(state.messages)) void api(`/api/whatsapp/chats/${id}/read`, { method: 'POST' });
      if (document.documentElement.dataset.live === 'socket') void read();
    }
    const timer = setInterval(() => void read(), 30_000);
    const again = () => void read();
    window.addEventListener('livia-connected', again);
    cleanup(() => {
      stopped = true;
      clearInterval(timer);
      window.removeEventListener('livia-connected', again);
    });
  }, { strategy: 'document-ready' });

  useVisibleTask$(({ track }) => {
    track(() => state.messages.length);
    // The newest message in view, inside the list's own scroll box (not the page).
    if (list.value) list.value.scrollTop = list.value.scrollHeight;
  }, { strategy: 'document-ready' });

  useWindowEvents({
    'livia-wa-message': $(async (e: Event) => {
      const m = (e as CustomEvent<WaMessage>).detail;
      if (m.chat_id !== chatId) return;
      const at = state.messages.findIndex((x) => x.id === m.id);
      state.messages = at >= 0 ? state.messages.map((x) => (x.id === m.id ? m : x)) : [...state.messages, m];
      await loadMedia();
      if (m.direction === 'in' && document.visibilityState === 'visible') await markRead();
    }),
    'livia-wa-status': $((e: Event) => {
      const s = (e as CustomEvent<WaStatus>).detail;
      if (s.chat_id !== chatId) return;
      // A status can come before its message is shown (a read of the thread was under way when
      // the send's push came): read the thread again rather than drop it, or a failed send would
      // stay "sending" with no way to retry it.
      if (!state.messages.some((x) => x.id === s.id)) return load();
      state.messages = state.messages.map((x) => (x.id === s.id ? { ...x, status: s.status, failure: s.failure } : x));
    }),
  });

  // The pending message is pushed on the socket; without one, the thread is read again.
  const accepted = $(async (m: unknown) => {
    const id = (m as { id?: string } | null)?.id;
    if (!id || !state.messages.some((x) => x.id === id)) await load();
  });

  const sendText = $(async (text: string) => {
    state.busy = true;
    const r = await api<{ id: string }>(`/api/whatsapp/chats/${chatId}/messages`, { method: 'POST', body: { text } });
    state.busy = false;
    if (!r.ok) {
      state.error = r.message;
      return false;
    }
    state.error = '';
    await accepted(r.data);
    return true;
  });

  const send = $(async () => {
    const text = state.draft.trim();
    if (!text || state.busy) return;
    state.draft = '';
    if (!(await sendText(text))) state.draft = text;
  });

  const attach = $(async () => {
    const file = fileInput.value?.files?.[0];
    if (!file) return;
    const form = new FormData();
    form.append('file', file);
    if (state.draft.trim()) form.append('text', state.draft.trim());
    state.busy = true;
    const res = await fetch(`/api/whatsapp/chats/${chatId}/messages`, { method: 'POST', body: form, credentials: 'same-origin', headers: { Accept: 'application/json' } }).catch(() => undefined);
    state.busy = false;
    if (fileInput.value) fileInput.value.value = '';
    if (!res || !res.ok) {
      state.error = 'O arquivo não pôde ser enviado.';
      return;
    }
    state.draft = '';
    state.error = '';
    await accepted(await res.json());
  });

  return (
    <section class="thread" aria-label={title ?? 'Mensagens'} data-testid="thread" data-chat-id={chatId}>
      {state.loaded && state.messages.length === 0 && <p class="muted">Nenhuma mensagem ainda.</p>}
      <ol ref={list} class="messages" aria-live="polite" aria-label="Mensagens" tabIndex={0}>
        {state.messages.map((m) => {
          const blob = m.media && state.media[m.media.id];
          const tick = TICKS[m.status];
          return (
            <li key={m.id} class={`bubble ${m.direction}`} data-message={m.id} data-kind={m.kind} data-status={m.direction === 'out' ? m.status : undefined}>
              {m.quoted && (
                <blockquote class="quoted" data-testid="quoted">
                  {m.quoted.text ?? 'mensagem citada'}
                </blockquote>
              )}
              {m.media && blob && (m.media.type === 'image' || m.media.type === 'sticker') && <img src={blob} alt={m.text ?? 'imagem recebida'} class="media" />}
              {m.media && blob && (m.media.type === 'voice' || m.media.type === 'audio') && <audio controls src={blob} aria-label="mensagem de voz" />}
              {m.media && blob && m.media.type === 'video' && <video controls src={blob} class="media" aria-label="vídeo" />}
              {m.media && blob && m.media.type === 'document' && (
                <a href={blob} download={m.media.file_name ?? 'arquivo'} data-testid="document">
                  📄 Baixar {m.media.file_name ?? 'arquivo'}
                </a>
              )}
              {m.media && m.media.status === 'too_large' && <span class="muted">[mídia acima do limite; não baixada]</span>}
              {m.media && m.media.status !== 'stored' && m.media.status !== 'too_large' && <span class="muted">[mídia indisponível]</span>}
              {m.kind === 'ciphertext' && <span class="muted">[mensagem que não pôde ser lida]</span>}
              {m.deleted ? <em class="muted" data-testid="deleted">mensagem apagada</em> : m.text && <span class="text">{m.text}</span>}
              {m.edited && !m.deleted && (
                <span class="muted" data-testid="edited">
                  {' '}
                  (editada)
                </span>
              )}
              <small class="meta">
                <time dateTime={m.at}>{timeOf(m.at)}</time>
                {m.direction === 'out' && tick && (
                  <span class={`tick tick-${m.status}`} data-testid="tick" title={tick.label}>
                    <span aria-hidden="true"> {tick.mark}</span>
                    <span class="sr-only">{tick.label}</span>
                  </span>
                )}
              </small>
              {m.direction === 'out' && m.status === 'failed' && (
                <div class="failure">
                  <span class="error">Falhou{m.failure ? `: ${m.failure}` : ''}.</span>{' '}
                  {m.text && !m.media && (
                    <button type="button" class="link-button" data-testid="retry" onClick$={() => sendText(m.text!)}>
                      Tentar de novo
                    </button>
                  )}
                </div>
              )}
            </li>
          );
        })}
      </ol>
      {state.error && (
        <p class="error" role="alert">
          {state.error}
        </p>
      )}
      <form preventdefault:submit onSubmit$={send} class="reply">
        <input
          type="text"
          value={state.draft}
          onInput$={(_, el) => (state.draft = el.value)}
          placeholder="Escreva uma mensagem (Enter envia)"
          aria-label="Mensagem"
          maxLength={4096}
          autoComplete="off"
          data-testid="reply"
        />
        <label class="button attach">
          Anexar
          <input ref={fileInput} type="file" class="sr-only" aria-label="Anexar arquivo" data-testid="attach" onChange$={attach} />
        </label>
        <button type="submit" class="button primary" disabled={state.busy} data-testid="send">
          Enviar
        </button>
      </form>
    </section>
  );
});
