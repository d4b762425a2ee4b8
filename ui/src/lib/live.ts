/**
 * The live connection of a signed-in page (browser only, loaded after the page is visible).
 * Socket.io authenticates with the session cookie; its events are re-dispatched on `window` as
 * `livia-lead`, `livia-lead-removed` (reassigned away from me), `livia-notification`, `livia-actor`
 * (an actor watched with `watchActor`), `livia-wa-session`, `livia-wa-message`, `livia-wa-status`
 * (WhatsApp) and `livia-conversation` (Lívia's conversations) CustomEvents, so each page listens to what it shows.
 * When Socket.io cannot connect (a proxy blocking WebSocket and polling alike), notifications
 * keep arriving over Server-Sent Events.
 *
 * @example
 * const stop = connectLive();
 * window.addEventListener('livia-lead', (e) => console.log((e as CustomEvent<LeadEvent>).detail));
 */
import { io, type Socket } from 'socket.io-client';
import type { Lead, Notification } from './model';
import { sessionEnded } from './session';

export interface LeadEvent {
  kind: 'created' | 'updated';
  lead: Lead;
}

/** An actor's live snapshot (`actor:snapshot`, ADMIN and MANAGER only). */
export interface ActorSnapshot {
  type: string;
  id: string;
  state: string;
  status: string;
  value: unknown;
  context: unknown;
}

/** The page's connection, shared by `watchActor`, and the actors watched (subscribed again on every connect). */
let shared: Socket | undefined;
const watched = new Map<string, { type: string; id: string }>();

/**
 * Streams an actor's snapshots as `livia-actor` events over the page's connection (started by the
 * layout with `connectLive`, before or after this call).
 *
 * @example
 * const stop = watchActor('consultant', id);
 * window.addEventListener('livia-actor', (e) => console.log((e as CustomEvent<ActorSnapshot>).detail.state));
 */
export function watchActor(type: string, id: string): () => void {
  const key = `${type}:${id}`;
  watched.set(key, { type, id });
  if (shared?.connected) shared.emit('actor:subscribe', { type, id });
  return () => {
    watched.delete(key);
    if (shared?.connected) shared.emit('actor:unsubscribe', { type, id });
  };
}

/** How long Socket.io gets to connect before notifications switch to SSE. */
const FALLBACK_AFTER_MS = 4000;

export function connectLive(): () => void {
  const socket = io({ path: '/socket.io', withCredentials: true, reconnectionDelayMax: 10_000 });
  shared = socket;
  let events: EventSource | undefined;
  let fallbackTimer: ReturnType<typeof setTimeout> | undefined = setTimeout(startSse, FALLBACK_AFTER_MS);
  const seen = new Set<number>();

  const emitNotification = (n: Notification) => {
    if (seen.has(n.id)) return;
    seen.add(n.id);
    window.dispatchEvent(new CustomEvent('livia-notification', { detail: n }));
  };
  const setState = (state: string) => {
    document.documentElement.dataset.live = state;
  };

  socket.on('connect', () => {
    setState('socket');
    window.dispatchEvent(new CustomEvent('livia-connected'));
    clearTimeout(fallbackTimer);
    fallbackTimer = undefined;
    for (const w of watched.values()) socket.emit('actor:subscribe', w);
  });
  socket.on('actor:snapshot', (snapshot: ActorSnapshot) => window.dispatchEvent(new CustomEvent('livia-actor', { detail: snapshot })));
  socket.on('lead:created', (lead: Lead) => window.dispatchEvent(new CustomEvent('livia-lead', { detail: { kind: 'created', lead } })));
  socket.on('lead:updated', (lead: Lead) => window.dispatchEvent(new CustomEvent('livia-lead', { detail: { kind: 'updated', lead } })));
  socket.on('lead:removed', (payload: { id: string }) => window.dispatchEvent(new CustomEvent('livia-lead-removed', { detail: payload })));
  socket.on('notification', emitNotification);
  const relay = (event: string, name: string) => socket.on(event, (payload: unknown) => window.dispatchEvent(new CustomEvent(name, { detail: payload })));
  relay('whatsapp:session', 'livia-wa-session');
  relay('whatsapp:message', 'livia-wa-message');
  relay('whatsapp:message:status', 'livia-wa-status');
  relay('conversation:updated', 'livia-conversation');
  socket.on('connect_error', (err) => {
    if (err.message === 'unauthorized') void checkSession();
    else startSse();
  });
  socket.on('disconnect', (reason) => {
    setState('offline');
    // The server closes the sockets of a revoked or deactivated session.
    if (reason === 'io server disconnect') void checkSession();
  });

  function startSse() {
    if (events || socket.connected) return;
    // Starts with what happens next (the page was rendered with the list so far); on a reconnect the
    // browser sends Last-Event-ID itself and the stream resumes where it stopped.
    events = new EventSource('/api/notifications/stream', { withCredentials: true });
    events.addEventListener('open', () => {
      if (!socket.connected) setState('sse');
    });
    events.addEventListener('notification', (e) => {
      emitNotification(JSON.parse((e as MessageEvent<string>).data) as Notification);
    });
    events.addEventListener('error', () => void checkSession());
  }

  return () => {
    clearTimeout(fallbackTimer);
    if (shared === socket) shared = undefined;
    socket.close();
    events?.close();
  };
}

/** After a refused connection: if the session itself is gone, back to `/login`. */
async function checkSession(): Promise<void> {
  // Signing out closes the connection on purpose (see logout in ./session.ts).
  if (document.documentElement.dataset.signingOut) return;
  try {
    const response = await fetch('/api/auth/me', { credentials: 'same-origin' });
    if (response.status === 401) sessionEnded();
  } catch {
    // Offline: Socket.io keeps retrying by itself.
  }
}
