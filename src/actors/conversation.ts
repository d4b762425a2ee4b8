/**
 * The conversation actor as the runtime runs it: one per customer phone (E.164) on Lívia's number.
 * It provides the machine's effects and domain writes:
 *
 * - `conversation.think` asks the brain (scripted or Groq) and sends the result back as
 *   `brain.decided`, whose transaction marks the think done. At least once: a repeat after a crash
 *   carries a turn the machine has already answered, and changes nothing.
 * - `conversation.reply` shows typing for a time proportional to the text (capped), then hands the
 *   reply to the transport with the effect id as its idempotency key: sent once per id.
 * - `conversation.handoff` hands the qualified customer to the sales team (the port decides how:
 *   lead, classification, round-robin) and sends back `handoff.completed` with who will call.
 * - every event that changes the stage, the data or the transcript writes `conversations` and
 *   `conversation_messages` in its own transaction (src/db/conversations.ts).
 *
 * @example
 * system.register(conversationActor({ settings, brain, transport, handoff, send: (phone, e) => system.send(CONVERSATION, phone, e) }));
 */
import type { TransactionSql } from '../db/client.ts';
import { recordConversationEvents, type ConversationWrite } from '../db/conversations.ts';
import { ACTIVE_STAGES } from '../domain/qualification.ts';
import type { Brain } from './conversation/brain.ts';
import {
  CONVERSATION_MACHINE_VERSION,
  createConversationMachine,
  conversationContextSchema,
  type ConversationContext,
  type ConversationEvent,
  type ConversationMachine,
  type ConversationReply,
  type ConversationSettings,
  type HandoffParams,
  type InboundKind,
  type ThinkParams,
} from './conversation.machine.ts';
import type { ActorDefinition, DomainWrite, EffectContext, WriteContext } from './types.ts';

export const CONVERSATION = 'conversation';

/** What the WhatsApp integration provides to send on Lívia's number. */
export interface ConversationTransport {
  /**
   * Sends one message. `key` is stable across retries and restarts (the effect id): a second call
   * with the same key must not send a second message.
   */
  send(m: { phone: string; text: string; role: 'livia' | 'consultant'; n: number; key: string; by?: string | undefined }): Promise<unknown>;
  /** Shows "typing…" to the customer for about `ms` (optional). */
  typing?(phone: string, ms: number): Promise<unknown>;
}

/** Hands a qualified, consenting customer to the sales team; says who will call (if known). */
export interface HandoffPort {
  handOff(p: HandoffParams, key: string): Promise<{ consultantName: string | null }>;
}

export interface ConversationDeps {
  settings: ConversationSettings;
  brain: Brain;
  transport: ConversationTransport;
  handoff?: HandoffPort;
  /**
   * Delivers an event to a conversation (the ActorSystem's send, bound at composition). `completes`
   * is the sending effect's id, to hand on to the system's send (the effect is marked done with it).
   */
  send(phone: string, event: ConversationEvent, opts?: { completes?: string }): Promise<unknown>;
  /** Typing presence per character of the reply, capped (0 turns it off). */
  typing?: { msPerChar: number; maxMs: number };
  now?: () => number;
}

/** How long Lívia "types" a reply: proportional to its length, capped. */
export function typingMs(text: string, t: { msPerChar: number; maxMs: number }): number {
  return Math.min(t.maxMs, Math.round(text.length * t.msPerChar));
}

/** Every event type whose transaction must carry the conversation's rows. */
export function conversationWriteEvents(): string[] {
  const followUps = ACTIVE_STAGES.flatMap((s) => [`xstate.after.FOLLOW_UP_1.conversation.${s}.waiting`, `xstate.after.FOLLOW_UP_2.conversation.${s}.nudged`]);
  return ['message.received', 'brain.decided', 'conversation.takeover', 'conversation.release', 'consultant.message', 'handoff.completed', ...followUps];
}

function conversationWrite(w: WriteContext): ConversationWrite {
  // An invalid context is never stored: the event fails alone and the actor stays as it was.
  const c = conversationContextSchema.parse(w.context) as ConversationContext;
  const e = w.event as unknown as ConversationEvent;
  const message = e.type === 'message.received' ? { waId: e.id, text: e.text, kind: e.kind satisfies InboundKind } : undefined;
  const reply: ConversationReply | null = c.lastReply;
  return {
    phone: w.actorId,
    stage: w.state.split('.')[0]!,
    data: c.data as Record<string, unknown>,
    message,
    reply: reply && { n: reply.n, text: reply.text, role: reply.role },
  };
}

/** One event's rows; a group commit writes all its conversation events in one statement (`many`). */
const write: DomainWrite = Object.assign((tx: TransactionSql, w: WriteContext) => recordConversationEvents(tx, [conversationWrite(w)]), {
  many: (tx: TransactionSql, ws: WriteContext[]) => recordConversationEvents(tx, ws.map(conversationWrite)),
});

export function conversationActor(deps: ConversationDeps): ActorDefinition<ConversationMachine> {
  const now = deps.now ?? Date.now;
  const typing = deps.typing ?? { msPerChar: 0, maxMs: 0 };
  return {
    type: CONVERSATION,
    machine: createConversationMachine(deps.settings),
    version: CONVERSATION_MACHINE_VERSION,
    input: (phone) => ({ phone }),
    effects: {
      'conversation.think': {
        // The brain has its own timeout and retry, then falls back to the script: this only bounds a hung send.
        timeoutMs: 60_000,
        run: async (p: ThinkParams, ctx: EffectContext) => {
          const decision = await deps.brain.decide(p);
          // Marked done with the decision: the reply it leads to runs right after that commit.
          await deps.send(p.phone, { type: 'brain.decided', turn: p.turn, decision, at: new Date(now()).toISOString() }, { completes: ctx.effectId });
        },
      },
      'conversation.reply': {
        timeoutMs: 30_000 + typing.maxMs,
        run: async (p: { phone: string } & ConversationReply, ctx: EffectContext) => {
          const ms = typingMs(p.text, typing);
          if (ms > 0 && deps.transport.typing) {
            await deps.transport.typing(p.phone, ms);
            await new Promise((r) => setTimeout(r, ms));
          }
          if (ctx.signal.aborted) return;
          await deps.transport.send({ phone: p.phone, text: p.text, role: p.role, n: p.n, key: ctx.effectId, ...(p.by ? { by: p.by } : {}) });
        },
      },
      'conversation.handoff': {
        timeoutMs: 60_000,
        run: async (p: HandoffParams, ctx: EffectContext) => {
          const r = deps.handoff ? await deps.handoff.handOff(p, ctx.effectId) : { consultantName: null };
          if (r.consultantName) await deps.send(p.phone, { type: 'handoff.completed', consultantName: r.consultantName, at: new Date(now()).toISOString() });
        },
      },
    },
    writes: Object.fromEntries(conversationWriteEvents().map((t) => [t, write])),
  };
}
