import { $, component$, useStore, useVisibleTask$ } from '@builder.io/qwik';
import { api } from '../../lib/api';
import { useWindowEvents } from '../../lib/window-events';
import type { WaChat, WaMessage } from './model';
import { Thread } from './thread';

/** The lead page's WhatsApp thread: the same thread as /chats, for the chat linked to this lead. */
export const LeadThread = component$<{ leadId: string }>(({ leadId }) => {
  const state = useStore({ chat: null as WaChat | null, loaded: false, error: '' });
  const load = $(async () => {
    const r = await api<WaChat[]>('/api/whatsapp/chats');
    if (!r.ok) {
      state.error = r.message;
      return;
    }
    state.chat = r.data.find((c) => c.lead_id === leadId) ?? null;
    state.loaded = true;
  });
  useVisibleTask$(() => {
    void load();
  }, { strategy: 'document-ready' });
  useWindowEvents({
    'livia-wa-message': $((e: Event) => {
      if (!state.chat && (e as CustomEvent<WaMessage>).detail) void load();
    }),
    // A first message while no live connection was open was never told (the thread, once shown, catches up itself).
    'livia-connected': $(() => {
      if (!state.chat) void load();
    }),
  });
  return (
    <section class="card" aria-labelledby="wa-title" data-testid="lead-whatsapp">
      <h2 id="wa-title">Conversa no WhatsApp</h2>
      {state.error && <p class="error">{state.error}</p>}
      {state.loaded && !state.chat && <p class="muted">Nenhuma conversa no WhatsApp com este cliente ainda.</p>}
      {state.chat && (
        <>
          <p class="muted small">
            <a href={`/chats?chat=${state.chat.id}`}>Abrir no WhatsApp</a>
          </p>
          <Thread chatId={state.chat.id} title="Mensagens com o cliente" />
        </>
      )}
    </section>
  );
});
