/**
 * The WhatsApp-session actor as the runtime runs it: the pure machine, the effects it names, the
 * domain write that records an outbound message as pending in the transaction of the event asking
 * for it, and the start/stop hooks through which the composition owns the session's socket.
 *
 * @example
 * system.register(whatsappSessionActor({ send, clearCredentials, recordPending, started, stopped }));
 */
import type { TransactionSql } from '../db/client.ts';
import type { ActorDefinition, EffectContext, HookContext } from './types.ts';
import { WHATSAPP_SESSION_MACHINE_VERSION, whatsappSessionMachine, type OutboundSend } from './whatsapp-session.machine.ts';

export const WHATSAPP_SESSION = 'whatsapp-session';

export interface WhatsAppSessionHooks {
  /** Sends one outbound message (idempotent by `waId`, which the driver gets as `messageId`). */
  send(p: OutboundSend & { session: string }, ctx: EffectContext): Promise<unknown>;
  clearCredentials(session: string): Promise<unknown>;
  /** The pending row, in the transaction that commits the `message.send` event. */
  recordPending(tx: TransactionSql, session: string, e: OutboundSend): Promise<unknown>;
  started(ctx: HookContext): unknown;
  stopped(ctx: HookContext): unknown;
  /** Runs of a send before it is dead-lettered. */
  sendAttempts?: number;
  sendTimeoutMs?: number;
}

export function whatsappSessionActor(h: WhatsAppSessionHooks): ActorDefinition<typeof whatsappSessionMachine> {
  return {
    type: WHATSAPP_SESSION,
    machine: whatsappSessionMachine,
    version: WHATSAPP_SESSION_MACHINE_VERSION,
    input: (id) => ({ session: id }),
    effects: {
      'whatsapp.send': { run: (p, ctx) => h.send(p, ctx), attempts: h.sendAttempts ?? 10, timeoutMs: h.sendTimeoutMs ?? 90_000 },
      'whatsapp.clearCredentials': (p: { session: string }) => h.clearCredentials(p.session),
    },
    writes: {
      'message.send': (tx, w) => h.recordPending(tx, w.actorId, w.event as unknown as OutboundSend),
    },
    start: (ctx) => h.started(ctx),
    stop: (ctx) => h.stopped(ctx),
  };
}
