import { $, component$, useComputed$, useContext, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { Link, routeLoader$, useLocation, type DocumentHead } from '@builder.io/qwik-city';
import { Sessions } from '../../../components/whatsapp/sessions';
import { Thread } from '../../../components/whatsapp/thread';
import { chatsKey, openChats, SESSION_NAMES, timeOf, type WaChat, type WaMessage, type WaSession } from '../../../components/whatsapp/model';
import { api } from '../../../lib/api';
import { serverApi } from '../../../lib/server-api';
import { useWindowEvents } from '../../../lib/window-events';
import { SessionContext } from '../../../lib/session';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The page as it is now, rendered on the server: the sessions, the chats and the open chat's thread.
 * The browser then only listens; a first load needs no component code of its own (see bench/ui.ts).
 */
export const useInbox = routeLoader$(async (ev) => {
  const chat = ev.url.searchParams.get('chat') ?? '';
  const [sessions, chats, messages] = await Promise.all([
    serverApi<WaSession[]>(ev, '/api/whatsapp/sessions'),
    serverApi<WaChat[]>(ev, '/api/whatsapp/chats'),
    UUID.test(chat) ? serverApi<WaMessage[]>(ev, `/api/whatsapp/chats/${chat}/messages?limit=100`) : Promise.resolve(undefined),
  ]);
  return {
    sessions: sessions.ok ? sessions.data : null,
    chats: chats.ok ? openChats(chats.data, chat) : null,
    error: chats.ok ? '' : chats.message,
    chat: messages?.ok ? chat : '',
    messages: messages?.ok ? messages.data : null,
  };
});

/**
 * The WhatsApp inbox, live: the sessions' state (QR and actions for admins), the chats this user may see
 * (a consultant: their own leads' chats, which the API and the socket enforce), searchable, with unread
 * counts and the linked lead, and the chosen chat's thread. `?chat=<id>` opens a chat.
 */
export default component$(() => {
  const session = useContext(SessionContext);
  const location = useLocation();
  const inbox = useInbox().value;
  const state = useStore({ chats: inbox.chats ?? ([] as WaChat[]), selected: location.url.searchParams.get('chat') ?? '', query: '', error: inbox.error, loaded: inbox.chats !== null });

  const load = $(async () => {
    const r = await api<WaChat[]>('/api/whatsapp/chats');
    if (r.ok) {
      state.chats = openChats(r.data, state.selected);
      state.error = '';
      state.loaded = true;
    } else state.error = r.message;
  });

  // The list came with the page; it is read again when the socket (re)connects (what changed in between)
  // and slowly after that, and replaced only when it shows something new.
  useVisibleTask$(({ cleanup }) => {
    const refresh = async () => {
      const r = await api<WaChat[]>('/api/whatsapp/chats');
      if (!r.ok) {
        if (state.error !== r.message) state.error = r.message;
        return;
      }
      const chats = openChats(r.data, state.selected);
      if (!state.loaded || chatsKey(chats) !== chatsKey(state.chats)) state.chats = chats;
      if (state.error) state.error = '';
      if (!state.loaded) state.loaded = true;
    };
    if (!state.loaded || document.documentElement.dataset.live === 'socket') void refresh();
    const timer = setInterval(() => void refresh(), 30_000);
    const again = () => void refresh();
    window.addEventListener('livia-connected', again);
    cleanup(() => {
      clearInterval(timer);
      window.removeEventListener('livia-connected', again);
    });
  }, { strategy: 'document-ready' });

  // A message moves its chat to the top; a chat not listed yet is read from the API. A lead assigned
  // to me (or taken away) brings its chat into my list (or out of it).
  useWindowEvents({
    'livia-wa-message': $(async (e: Event) => {
      const m = (e as CustomEvent<WaMessage>).detail;
      const chat = state.chats.find((c) => c.id === m.chat_id);
      if (!chat) return load();
      // A read of the list that already counted this message (it raced the push) must not count it twice.
      const counted = chat.last_message?.at === m.at && chat.last_message.direction === m.direction && chat.last_message.text === m.text;
      const unread = m.chat_id === state.selected ? 0 : m.direction === 'in' && !counted ? chat.unread + 1 : chat.unread;
      const updated: WaChat = { ...chat, unread, last_message: { text: m.text, kind: m.kind, direction: m.direction, status: m.status, at: m.at } };
      state.chats = [updated, ...state.chats.filter((c) => c.id !== m.chat_id)];
    }),
    'livia-lead': load,
    'livia-lead-removed': load,
  });

  const visible = useComputed$(() => {
    const q = state.query.trim().toLocaleLowerCase('pt-BR');
    const digits = q.replace(/\D/g, '');
    if (!q) return state.chats;
    return state.chats.filter((c) => (c.name ?? '').toLocaleLowerCase('pt-BR').includes(q) || (digits && (c.phone ?? '').replace(/\D/g, '').includes(digits)) || (c.last_message?.text ?? '').toLocaleLowerCase('pt-BR').includes(q));
  });

  const open = $((id: string) => {
    state.selected = id;
    state.chats = state.chats.map((c) => (c.id === id ? { ...c, unread: 0 } : c));
    history.replaceState(null, '', `/chats?chat=${id}`);
  });

  const current = state.chats.find((c) => c.id === state.selected);

  return (
    <section class="inbox" data-testid="inbox">
      <h1>WhatsApp</h1>
      <Sessions admin={session.user?.role === 'ADMIN'} initial={inbox.sessions ?? undefined} />
      {state.error && (
        <p class="error" role="alert">
          {state.error}
        </p>
      )}
      <div class="inbox-body">
        <nav class="card chat-nav" aria-label="Conversas">
          <label class="field">
            <span>Buscar</span>
            <input type="search" value={state.query} onInput$={(_, el) => (state.query = el.value)} placeholder="Nome, telefone ou texto" data-testid="chat-search" />
          </label>
          <ul class="chat-list" data-testid="chat-list">
            {state.loaded && visible.value.length === 0 && <li class="muted">Nenhuma conversa.</li>}
            {visible.value.map((c) => (
              <li key={c.id} data-chat={c.id} data-phone={c.phone ?? ''} class={c.id === state.selected ? 'selected' : ''}>
                <button type="button" class="chat" aria-current={c.id === state.selected ? 'true' : undefined} onClick$={() => open(c.id)}>
                  <span class="chat-head">
                    <strong>{c.name ?? c.phone ?? 'Contato'}</strong>
                    {c.unread > 0 && (
                      <span class="badge" data-testid="unread" aria-label={`${c.unread} não lidas`}>
                        {c.unread}
                      </span>
                    )}
                  </span>
                  <span class="muted small">
                    {c.phone}
                    {' · '}{SESSION_NAMES[c.session] ?? c.session}
                  </span>
                  <span class="muted small preview">
                    {c.last_message ? `${c.last_message.direction === 'out' ? 'Você: ' : ''}${c.last_message.text ?? `[${c.last_message.kind}]`}` : ''}
                    {c.last_message && ` · ${timeOf(c.last_message.at)}`}
                  </span>
                </button>
                {c.lead_id && (
                  <Link href={`/leads/${c.lead_id}`} class="small" data-testid="chat-lead">
                    Ver lead
                  </Link>
                )}
              </li>
            ))}
          </ul>
        </nav>
        <div class="card thread-card">
          {current ? (
            <>
              <h2 class="thread-title">
                {current.name ?? current.phone} <span class="muted small">{current.phone}</span>
              </h2>
              <Thread
                chatId={current.id}
                title={`Mensagens com ${current.name ?? current.phone ?? 'o contato'}`}
                initial={current.id === inbox.chat && inbox.messages ? inbox.messages : undefined}
              />
            </>
          ) : (
            <p class="muted">Escolha uma conversa.</p>
          )}
        </div>
      </div>
    </section>
  );
});

export const head: DocumentHead = {
  title: 'WhatsApp',
};
