/**
 * One actor per WhatsApp session (a number: 'consultant', 'livia', …). It decides; the composition
 * (src/services/whatsapp/sessions.ts) makes the socket follow: in `connecting`, `pairing` and `open`
 * one connection of generation `context.generation` exists; in every other state none does.
 *
 * Every disconnect reason is decided here, so both drivers share it (Baileys 7 DisconnectReason):
 * - 401 loggedOut, 440 conflict `device_removed` → loggedOut, credentials wiped, waits for re-pairing;
 * - 515 restartRequired → connecting again at once (same credentials);
 * - 440 `replaced` → replaced: no automatic reconnect, reported;
 * - 403 forbidden, 411 multidevice mismatch → failed (fatal), reported;
 * - anything else (408, 428, 500, 503, 405, none) → reconnecting, exponential backoff with jitter,
 *   capped, through a durable `after`.
 * Outbound sends are effects of this actor, so they run in order, once each, across restarts.
 *
 * Pure: no I/O. Effects (`whatsapp.send`, `whatsapp.clearCredentials`) are provided by name where
 * the actor is composed; state changes are pushed by the composition's onChange listener.
 *
 * @example
 * const [s] = initialTransition(whatsappSessionMachine, { session: 'consultant' });
 * const [t] = transition(whatsappSessionMachine, s, { type: 'conn.close', statusCode: 401, at: '…', jitter: 0.5 });
 * t.value // => 'loggedOut'   (a socket exists only in {live: 'connecting' | 'pairing' | 'open'})
 */
import { assign, setup } from 'xstate';

export const WHATSAPP_SESSION_MACHINE_VERSION = 1;

export const BACKOFF_BASE_MS = 2000;
export const BACKOFF_CAP_MS = 5 * 60_000;

export type SessionStatus = 'connecting' | 'pairing' | 'open' | 'reconnecting' | 'loggedOut' | 'replaced' | 'failed';

export interface WhatsAppSessionContext {
  session: string;
  /** Bumped whenever a new socket is wanted; the composition recreates a connection of an older one. */
  generation: number;
  /** Consecutive failed connects (reset when open). */
  attempt: number;
  retryInMs: number;
  qr: string | null;
  me: string | null;
  lastStatusCode: number | null;
  reason: string | null;
  since: string | null;
}

export interface OutboundSend {
  /** Our message row id. */
  messageId: string;
  /** The WhatsApp id we generated, passed to the driver as `messageId`. */
  waId: string;
  chatId: string;
  jid: string;
  text: string | null;
  /** A stored media row to send (image or document). */
  mediaId?: string | null;
  sentBy?: string | null;
  at: string;
}

export type WhatsAppSessionEvent =
  /** The session exists and should run (sent at start; harmless when already running). */
  | { type: 'session.boot' }
  | { type: 'conn.qr'; qr: string; at: string }
  | { type: 'conn.open'; me: string | null; at: string }
  | { type: 'conn.close'; statusCode: number | null; conflictType?: string | null; message?: string | null; at: string; jitter: number }
  | { type: 'driver.unavailable'; message: string; at: string }
  | { type: 'session.reconnect'; at: string }
  | { type: 'session.logout'; at: string }
  | ({ type: 'message.send' } & OutboundSend);

export type CloseDecision = 'loggedOut' | 'restart' | 'replaced' | 'fatal' | 'backoff';

/** The disconnect reason → what happens next (shared by every driver). */
export function decideClose(statusCode: number | null | undefined, conflictType?: string | null): CloseDecision {
  switch (statusCode) {
    case 401:
      return 'loggedOut';
    case 440:
      if (conflictType === 'device_removed') return 'loggedOut';
      return 'replaced';
    case 515:
      return 'restart';
    case 403:
    case 411:
      return 'fatal';
    default:
      return 'backoff';
  }
}

/** min(cap, base · 2^attempt), times a jitter in [0.5, 1.5). */
export function backoffMs(attempt: number, jitter: number): number {
  const raw = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.round(Math.min(BACKOFF_CAP_MS, raw * (0.5 + Math.max(0, Math.min(1, jitter)))));
}

const REASONS: Record<number, string> = {
  401: 'desconectado pelo celular (logout)',
  403: 'acesso proibido pelo WhatsApp',
  405: 'versão do WhatsApp Web desatualizada',
  408: 'tempo esgotado',
  411: 'incompatibilidade de multi-dispositivo',
  428: 'conexão fechada',
  440: 'sessão aberta em outro lugar',
  500: 'sessão inválida',
  503: 'serviço indisponível',
  515: 'reinício solicitado',
};

function reasonOf(e: { statusCode: number | null; conflictType?: string | null; message?: string | null }): string {
  const base = (e.statusCode !== null && REASONS[e.statusCode]) || e.message || 'conexão encerrada';
  return e.conflictType ? `${base} (${e.conflictType})` : base;
}

const isClose = (e: WhatsAppSessionEvent): e is Extract<WhatsAppSessionEvent, { type: 'conn.close' }> => e.type === 'conn.close';

export const whatsappSessionMachine = setup({
  types: {
    context: {} as WhatsAppSessionContext,
    events: {} as WhatsAppSessionEvent,
    input: {} as { session: string },
  },
  actions: {
    'whatsapp.send': (_, _params: OutboundSend & { session: string }) => {},
    'whatsapp.clearCredentials': (_, _params: { session: string }) => {},
  },
  delays: {
    backoff: ({ context }) => context.retryInMs,
  },
  guards: {
    loggedOut: ({ event }) => isClose(event) && decideClose(event.statusCode, event.conflictType) === 'loggedOut',
    restart: ({ event }) => isClose(event) && decideClose(event.statusCode, event.conflictType) === 'restart',
    replaced: ({ event }) => isClose(event) && decideClose(event.statusCode, event.conflictType) === 'replaced',
    fatal: ({ event }) => isClose(event) && decideClose(event.statusCode, event.conflictType) === 'fatal',
  },
}).createMachine({
  id: 'whatsapp-session',
  initial: 'live',
  context: ({ input }) => ({
    // Without input in the throwaway actor xstate's transition() builds per event: no exception.
    session: input?.session ?? '',
    generation: 1,
    attempt: 0,
    retryInMs: 0,
    qr: null,
    me: null,
    lastStatusCode: null,
    reason: null,
    since: null,
  }),
  on: {
    // Sends are accepted in every state: the effect waits (retries) until the socket is open.
    'message.send': {
      actions: { type: 'whatsapp.send', params: ({ context, event }) => ({ ...stripType(event), session: context.session }) },
    },
    'session.logout': {
      target: '.loggedOut',
      actions: [
        assign({ qr: null, reason: 'desconectado pelo administrador', lastStatusCode: null, since: ({ event }) => event.at }),
        { type: 'whatsapp.clearCredentials', params: ({ context }) => ({ session: context.session }) },
      ],
    },
    'session.reconnect': {
      target: '.live',
      reenter: true,
      actions: assign({ generation: ({ context }) => context.generation + 1, attempt: 0, qr: null, reason: null, since: ({ event }) => event.at }),
    },
    'driver.unavailable': {
      target: '.failed',
      actions: assign({ reason: ({ event }) => event.message, qr: null, since: ({ event }) => event.at }),
    },
  },
  states: {
    // A socket of this generation exists (or is being made).
    live: {
      initial: 'connecting',
      on: {
        // Handled here, whatever the child: a socket restored as 'open' that asks to pair is pairing.
        'conn.qr': { target: '.pairing', actions: assign({ qr: ({ event }) => event.qr, since: ({ context, event }) => context.since ?? event.at }) },
        'conn.open': {
          target: '.open',
          actions: assign({ attempt: 0, qr: null, reason: null, lastStatusCode: null, me: ({ event }) => event.me, since: ({ event }) => event.at }),
        },
        'conn.close': [
          {
            guard: 'loggedOut',
            target: 'loggedOut',
            actions: [
              assign(({ event }) => noted(event)),
              { type: 'whatsapp.clearCredentials', params: ({ context }) => ({ session: context.session }) },
            ],
          },
          {
            guard: 'restart',
            target: '.connecting',
            reenter: true,
            actions: assign(({ event, context }) => ({ ...noted(event), generation: context.generation + 1 })),
          },
          { guard: 'replaced', target: 'replaced', actions: assign(({ event }) => noted(event)) },
          { guard: 'fatal', target: 'failed', actions: assign(({ event }) => noted(event)) },
          {
            target: 'reconnecting',
            actions: assign(({ event, context }) => ({
              ...noted(event),
              retryInMs: backoffMs(context.attempt, isClose(event) ? event.jitter : 0.5),
              attempt: context.attempt + 1,
            })),
          },
        ],
      },
      states: {
        connecting: {},
        pairing: {},
        open: {},
      },
    },
    reconnecting: {
      after: {
        backoff: { target: 'live', actions: assign({ generation: ({ context }) => context.generation + 1 }) },
      },
    },
    loggedOut: {},
    replaced: {},
    failed: {},
  },
});

function noted(e: WhatsAppSessionEvent): Partial<WhatsAppSessionContext> {
  return isClose(e) ? { lastStatusCode: e.statusCode, reason: reasonOf(e), since: e.at, qr: null } : {};
}

function stripType<T extends { type: string }>(e: T): Omit<T, 'type'> {
  const { type: _t, ...rest } = e;
  return rest;
}

/** The session's status as the API reports it. */
export function sessionStatus(value: unknown): SessionStatus {
  if (value && typeof value === 'object' && 'live' in value) return (value as { live: SessionStatus }).live;
  return (typeof value === 'string' ? value : 'connecting') as SessionStatus;
}

/** Whether the session wants a socket right now. */
export function wantsSocket(value: unknown): boolean {
  return !!value && typeof value === 'object' && 'live' in value;
}
