/**
 * Lívia's conversation with one customer phone, as a pure XState machine (the runtime makes it
 * durable). Stages INTRO → QUALIFICATION → SIMULATION → CONVERSION → TRANSFERRED, and the ends
 * HUMAN (a consultant took over; given back with `conversation.release`), ABANDONED and OPTED_OUT.
 *
 * Inside each talking stage:
 *   idle ──message──▶ collecting ──after BURST──▶ thinking ──brain.decided──▶ waiting (or collecting)
 *   waiting ──after FOLLOW_UP_1──▶ nudged ──after FOLLOW_UP_2──▶ ABANDONED
 * A burst of messages inside BURST is one turn. While thinking, new messages wait for the next turn,
 * so one turn gets one answer. A think an admin discarded (dead-lettered: `effect.discarded`) ends
 * the turn unanswered: back to idle, or on to the next turn when messages came meanwhile. With a burst window of 0 there is no `collecting` step: a message
 * goes straight to `thinking` (no timer to arm and fire).
 *
 * The brain does I/O, so it never runs here: `thinking` names the `conversation.think` effect, whose
 * handler calls the brain and sends the result back as `brain.decided` (durable through the effect
 * outbox; a repeat after a crash is a stale turn and changes nothing). `brain.decided` is applied by
 * turn.ts (validation, stage guards, the reply), and the reply goes out as the `conversation.reply`
 * effect: recorded in that event's transaction (the domain write reads `lastReply`), sent once per
 * effect id. Follow-ups wait for business hours: the delays are computed from the time of Lívia's
 * last reply and `nextBusinessMoment`, so they are pure functions of the context.
 *
 * @example
 * const machine = createConversationMachine(settings);
 * const [s0] = initialTransition(machine, { phone: '+5511987654321' });
 * const [s1, actions] = transition(machine, s0, { type: 'message.received', id: 'w1', text: 'oi', kind: 'text', at });
 * s1.value // => { INTRO: 'collecting' }
 */
import { assign, setup, type ActionFunction } from 'xstate';
import { z } from 'zod';
import { nextBusinessMoment, type BusinessHours } from '../domain/business-hours.ts';
import { isOptOut, type Field } from '../domain/extraction.ts';
import { ACTIVE_STAGES, conversationData, missingFields, type ActiveStage, type ConversationData } from '../domain/qualification.ts';
import type { SimulationSettings } from '../domain/simulation.ts';
import type { TranscriptLine } from './conversation/brain.ts';
import {
  askFor,
  ASK_OFFER,
  CONSENT_QUESTION,
  consultantText,
  followUpText,
  MEDIA_ACK,
  OPT_OUT_CONFIRMATION,
  VOICE_FALLBACK,
} from './conversation/script.ts';
import { decideTurn, type Decision, type TurnOutcome } from './conversation/turn.ts';

export const CONVERSATION_MACHINE_VERSION = 1;

export interface ConversationSettings extends SimulationSettings {
  /** Silence before the first and the last nudge (default 1 h and 24 h), counted from Lívia's reply. */
  followUpMs: readonly [number, number];
  /** Messages within this window of each other are one turn. */
  burstMs: number;
  hours: BusinessHours;
  /** Lines of transcript kept for the brain. */
  windowSize?: number;
}

export type InboundKind = 'text' | 'voice' | 'image' | 'document' | 'other';
/** Where a conversation goes back to when a consultant gives it back (or the customer returns). */
export type ResumeStage = ActiveStage | 'TRANSFERRED';

export type ConversationEvent =
  /** `text` of a voice note is its transcript ('' when it could not be transcribed). */
  | { type: 'message.received'; id: string; text: string; kind: InboundKind; at: string }
  | { type: 'brain.decided'; turn: number; decision: Decision; at: string }
  | { type: 'conversation.takeover'; by: string; at: string }
  | { type: 'conversation.release'; by: string; at: string }
  | { type: 'consultant.message'; text: string; by: string; at: string }
  | { type: 'handoff.completed'; consultantName: string | null; at: string }
  /** An admin discarded a dead-lettered effect of this conversation (the runtime sends it). */
  | { type: 'effect.discarded'; effectId: string; effect: string; params: unknown; by: string };

export interface ConversationReply {
  /** 1, 2, 3…: the reply's number in this conversation (its row in conversation_messages). */
  n: number;
  text: string;
  role: 'livia' | 'consultant';
  at: string;
  /** The consultant who wrote it (role `consultant`). */
  by?: string | undefined;
}

export interface ConversationContext {
  phone: string;
  data: ConversationData;
  window: TranscriptLine[];
  /** Customer messages not yet answered. */
  pending: string[];
  /** The last inbound message ids, so a redelivered message is not answered twice. */
  seen: string[];
  turn: number;
  /** The customer's words the current turn answers. */
  turnText: string;
  replies: number;
  lastReply: ConversationReply | null;
  expecting: Field | 'answer' | null;
  offer: { amount: number; termMonths: number } | null;
  resume: ResumeStage;
  takenBy: string | null;
  /** When Lívia last spoke (epoch ms): follow-ups count from here. */
  quietSince: number | null;
}

const FIELD_NAMES = ['name', 'purpose', 'requested_amount', 'monthly_income', 'term_months'] as const;
const line = z.object({ role: z.enum(['customer', 'livia', 'consultant']), text: z.string() });

/** The context, checked whole before it is stored (the conversation actor's domain write parses it). */
export const conversationContextSchema = z.object({
  phone: z.string().regex(/^\+\d{8,15}$/),
  data: conversationData,
  window: z.array(line),
  pending: z.array(z.string()),
  seen: z.array(z.string()),
  turn: z.number().int().min(0),
  turnText: z.string(),
  replies: z.number().int().min(0),
  lastReply: z.object({ n: z.number().int().positive(), text: z.string().min(1), role: z.enum(['livia', 'consultant']), at: z.string(), by: z.string().optional() }).nullable(),
  expecting: z.enum([...FIELD_NAMES, 'answer']).nullable(),
  offer: z.object({ amount: z.number().positive(), termMonths: z.number().int().positive() }).nullable(),
  resume: z.enum([...ACTIVE_STAGES, 'TRANSFERRED']),
  takenBy: z.string().nullable(),
  quietSince: z.number().nullable(),
}) satisfies z.ZodType<ConversationContext>;

export interface ThinkParams {
  phone: string;
  turn: number;
  stage: ActiveStage;
  window: TranscriptLine[];
  missing: Field[];
  expecting: Field | 'answer' | null;
  data: ConversationData;
  text: string;
}

export interface HandoffParams {
  phone: string;
  data: ConversationData;
  /** The transcript window, as a summary for the consultant. */
  summary: string;
}

const SEEN = 50;

/** The question a stage is waiting on (what a nudge repeats). */
function openQuestion(stage: ActiveStage, c: ConversationContext): string {
  if (stage === 'SIMULATION') return ASK_OFFER;
  if (stage === 'CONVERSION') return CONSENT_QUESTION;
  return askFor(missingFields(c.data, 'QUALIFICATION'), c.data);
}

export function createConversationMachine(settings: ConversationSettings) {
  const windowSize = settings.windowSize ?? 12;
  const outcomes = new WeakMap<object, TurnOutcome>();
  /** The turn's outcome, computed once per event (guards and the action share it). */
  const outcome = (c: ConversationContext, e: Extract<ConversationEvent, { type: 'brain.decided' }>, stage: ActiveStage): TurnOutcome => {
    let o = outcomes.get(e);
    if (!o) {
      o = decideTurn(
        { stage, data: c.data, expecting: c.expecting, text: c.turnText, replies: c.replies, lastReply: c.lastReply?.text ?? null, offer: c.offer },
        e.decision,
        settings,
        e.at,
      );
      outcomes.set(e, o);
    }
    return o;
  };
  const push = (window: TranscriptLine[], line: TranscriptLine) => [...window, line].slice(-windowSize);
  /** The context changes of one reply (the effect that sends it follows it in the same action list). */
  const spoken = (c: ConversationContext, text: string, at: string, o: { role?: 'livia' | 'consultant'; quiet?: boolean; by?: string | undefined } = {}) => ({
    replies: c.replies + 1,
    lastReply: { n: c.replies + 1, text, role: o.role ?? 'livia', at, ...(o.by ? { by: o.by } : {}) },
    window: push(c.window, { role: o.role ?? 'livia', text }),
    ...(o.quiet === false ? {} : { quietSince: Date.parse(at) }),
  });
  /** Where a message that starts a turn goes. */
  const gather = settings.burstMs > 0 ? 'collecting' : 'thinking';
  const due = (c: ConversationContext, i: 0 | 1) => nextBusinessMoment((c.quietSince ?? 0) + settings.followUpMs[i], settings.hours);

  const machine = setup({
    types: {
      context: {} as ConversationContext,
      events: {} as ConversationEvent,
      input: {} as { phone: string },
    },
    actions: {
      'conversation.reply': (_, _p: { phone: string } & ConversationReply) => {},
      'conversation.think': (_, _p: ThinkParams) => {},
      'conversation.handoff': (_, _p: HandoffParams) => {},
    },
    guards: {
      duplicate: ({ context, event }) => event.type === 'message.received' && context.seen.includes(event.id),
      optOut: ({ event }) => event.type === 'message.received' && isOptOut(event.text),
      unreadable: ({ event }) => event.type === 'message.received' && (event.kind !== 'text' && event.kind !== 'voice' ? true : event.text.trim() === ''),
      staleTurn: ({ context, event }) => event.type === 'brain.decided' && event.turn !== context.turn,
      turnLeadsTo: ({ context, event }, p: { from: ActiveStage; to: ResumeStage; more: boolean }) =>
        event.type === 'brain.decided' && outcome(context, event, p.from).stage === p.to && context.pending.length > 0 === p.more,
      resumesAt: ({ context }, p: { stage: ResumeStage }) => context.resume === p.stage,
      /** The current turn's think effect was discarded (dead-lettered, given up by an admin). */
      thinkDiscarded: ({ context, event }, p: { more: boolean }) =>
        event.type === 'effect.discarded' &&
        event.effect === 'conversation.think' &&
        (event.params as { turn?: unknown } | null)?.turn === context.turn &&
        context.pending.length > 0 === p.more,
    },
    delays: {
      BURST: () => settings.burstMs,
      // Relative to the moment the state is entered: Lívia's reply (waiting), the first nudge (nudged).
      FOLLOW_UP_1: ({ context }) => Math.max(0, due(context, 0) - (context.quietSince ?? 0)),
      FOLLOW_UP_2: ({ context }) => Math.max(0, due(context, 1) - due(context, 0)),
    },
  });

  type Ctx = ConversationContext;
  type Ev = ConversationEvent;
  const received = (e: Ev) => e as Extract<Ev, { type: 'message.received' }>;

  /** The customer's message joins the transcript. */
  const record = assign(({ context, event }: { context: Ctx; event: Ev }) => {
    const m = received(event);
    const text = m.text.trim() || (m.kind === 'voice' ? '[áudio]' : `[${m.kind}]`);
    return { window: push(context.window, { role: 'customer', text }), seen: [...context.seen, m.id].slice(-SEEN) };
  }) as never;
  const queue = assign(({ context, event }: { context: Ctx; event: Ev }) => ({ pending: [...context.pending, received(event).text.trim()] })) as never;
  const reply = { type: 'conversation.reply' as const, params: ({ context }: { context: Ctx }) => ({ phone: context.phone, ...context.lastReply! }) };
  const say = (text: (c: Ctx, e: Ev) => string, o: { role?: 'livia' | 'consultant'; quiet?: boolean; at?: (c: Ctx) => string; by?: (e: Ev) => string } = {}) => [
    assign(({ context, event }: { context: Ctx; event: Ev }) =>
      spoken(context, text(context, event), o.at ? o.at(context) : ((event as { at?: string }).at ?? new Date(0).toISOString()), {
        ...(o.role ? { role: o.role } : {}),
        ...(o.quiet === undefined ? {} : { quiet: o.quiet }),
        by: o.by?.(event),
      }),
    ),
    reply,
  ] as never[];
  // The helpers below are typed loosely (never): XState's config types cannot follow a transition
  // built outside the machine literal; the machine tests exercise every one of them.
  const optOut = {
    guard: 'optOut' as const,
    target: '#conversation.OPTED_OUT',
    actions: [
      record,
      assign(({ context, event }: { context: Ctx; event: Ev }) => ({
        data: { ...context.data, opt_out: { value: true, at: received(event).at, asked: '', answered: received(event).text } },
        pending: [],
      })),
      ...say(() => OPT_OUT_CONFIRMATION),
    ],
  } as never;
  const unreadable = {
    guard: 'unreadable' as const,
    actions: [record, ...say((_, e) => (received(e).kind === 'voice' ? VOICE_FALLBACK : MEDIA_ACK), { quiet: false })],
  } as never;
  const handoff = {
    type: 'conversation.handoff' as const,
    params: ({ context }: { context: Ctx }): HandoffParams => ({
      phone: context.phone,
      data: context.data,
      summary: context.window.map((l) => `${l.role === 'customer' ? 'Cliente' : l.role === 'livia' ? 'Lívia' : 'Consultor'}: ${l.text}`).join('\n'),
    }),
  } as never;
  const takeover = {
    target: '#conversation.HUMAN',
    actions: assign({ takenBy: ({ event }: { event: Ev }) => (event as Extract<Ev, { type: 'conversation.takeover' }>).by, pending: [] as string[] }),
  } as never;

  function talking(stage: ActiveStage) {
    const applyTurn = [
      assign(({ context, event }: { context: Ctx; event: Ev }) => {
        const e = event as Extract<Ev, { type: 'brain.decided' }>;
        const o = outcome(context, e, stage);
        return {
          data: o.data,
          expecting: o.expecting,
          offer: o.offer,
          resume: o.stage,
          ...spoken(context, o.reply, e.at),
        };
      }),
      reply,
    ] as unknown as ActionFunction<Ctx, Ev, Ev, never, never, never, never, never, never>[];
    const decided = [
      { guard: 'staleTurn' as const },
      ...ACTIVE_STAGES.flatMap((to) =>
        [false, true].map((more) => ({
          guard: { type: 'turnLeadsTo' as const, params: { from: stage, to, more } },
          target: `#conversation.${to}.${more ? gather : 'waiting'}`,
          // Thinking again (no burst window) is a new turn: its entry must run again.
          reenter: true,
          actions: applyTurn,
        })),
      ),
      // The hand-off is asked for on the way in, not on entry: a give-back after a take-over in
      // TRANSFERRED enters it again and must not hand the customer off twice.
      ...[false, true].map((more) => ({
        guard: { type: 'turnLeadsTo' as const, params: { from: stage, to: 'TRANSFERRED' as const, more } },
        target: '#conversation.TRANSFERRED',
        actions: [...applyTurn, handoff],
      })),
    ];
    return {
      initial: 'idle',
      entry: assign({ resume: stage }),
      on: {
        'message.received': [{ guard: 'duplicate' as const }, optOut, unreadable, { target: `.${gather}`, actions: [record, queue] }],
        'conversation.takeover': takeover,
      },
      states: {
        idle: {},
        collecting: { after: { BURST: 'thinking' } },
        thinking: {
          entry: [
            assign(({ context }: { context: Ctx }) => ({ turn: context.turn + 1, turnText: context.pending.join('\n'), pending: [] as string[] })),
            {
              type: 'conversation.think' as const,
              params: ({ context }: { context: Ctx }): ThinkParams => ({
                phone: context.phone,
                turn: context.turn,
                stage,
                window: context.window,
                missing: missingFields(context.data, stage === 'INTRO' ? 'INTRO' : 'QUALIFICATION'),
                expecting: context.expecting,
                data: context.data,
                text: context.turnText,
              }),
            },
          ],
          on: {
            // Messages during a turn wait for the next one: one answer per turn.
            'message.received': [{ guard: 'duplicate' as const }, optOut, unreadable, { actions: [record, queue] }],
            'brain.decided': decided,
            // The turn's think was dead-lettered and discarded: no answer is coming. Messages that
            // arrived meanwhile start the next turn; otherwise the conversation waits for one.
            'effect.discarded': [
              { guard: { type: 'thinkDiscarded' as const, params: { more: true } }, target: gather, reenter: true },
              { guard: { type: 'thinkDiscarded' as const, params: { more: false } }, target: 'idle' },
            ],
          },
        },
        waiting: {
          after: {
            FOLLOW_UP_1: {
              target: 'nudged',
              actions: say((c) => followUpText(1, c.data, openQuestion(stage, c)), { quiet: false, at: (c) => new Date(due(c, 0)).toISOString() }),
            },
          },
        },
        nudged: {
          after: {
            FOLLOW_UP_2: {
              target: '#conversation.ABANDONED',
              actions: say((c) => followUpText(2, c.data, ''), { quiet: false, at: (c) => new Date(due(c, 1)).toISOString() }),
            },
          },
        },
      },
    };
  }

  const backTo = (sub: 'idle' | 'collecting' | 'thinking', extra: never[] = []) => [
    ...ACTIVE_STAGES.map((stage) => ({ guard: { type: 'resumesAt' as const, params: { stage } }, target: `#conversation.${stage}.${sub}`, actions: extra })),
    { guard: { type: 'resumesAt' as const, params: { stage: 'TRANSFERRED' as const } }, target: '#conversation.TRANSFERRED', actions: extra },
  ] as never[];

  return machine.createMachine({
    id: 'conversation',
    initial: 'INTRO',
    // xstate's transition() builds a throwaway actor (and its initial context, without input) on
    // every event: a context that threw there cost a caught exception per event (issue 12's profile).
    context: ({ input }) => ({
      phone: input?.phone ?? '',
      data: {},
      window: [],
      pending: [],
      seen: [],
      turn: 0,
      turnText: '',
      replies: 0,
      lastReply: null,
      expecting: 'name',
      offer: null,
      resume: 'INTRO',
      takenBy: null,
      quietSince: null,
    }),
    states: {
      INTRO: talking('INTRO') as never,
      QUALIFICATION: talking('QUALIFICATION') as never,
      SIMULATION: talking('SIMULATION') as never,
      CONVERSION: talking('CONVERSION') as never,
      TRANSFERRED: {
        entry: assign({ resume: 'TRANSFERRED' as const }),
        on: {
          'message.received': [{ guard: 'duplicate' }, optOut, { actions: record }],
          'handoff.completed': {
            actions: say((_, e) => {
              const done = e as Extract<Ev, { type: 'handoff.completed' }>;
              return consultantText(done.consultantName ?? 'da nossa equipe', Date.parse(done.at), settings.hours);
            }, { quiet: false }),
          },
          'conversation.takeover': takeover,
        },
      },
      HUMAN: {
        on: {
          // Lívia is silent: the customer's messages are stored for the consultant.
          'message.received': [{ guard: 'duplicate' }, optOut, { actions: record }],
          'consultant.message': {
            actions: say((_, e) => (e as Extract<Ev, { type: 'consultant.message' }>).text, {
              role: 'consultant',
              quiet: false,
              by: (e) => (e as Extract<Ev, { type: 'consultant.message' }>).by,
            }),
          },
          'conversation.takeover': { actions: assign({ takenBy: ({ event }) => event.by }) },
          'conversation.release': backTo('idle', [assign({ takenBy: null }) as never]),
        },
      },
      ABANDONED: {
        on: {
          // The customer came back: the conversation picks up where it stopped.
          'message.received': [{ guard: 'duplicate' }, optOut, unreadable, ...backTo(gather, [record, queue])],
          'conversation.takeover': takeover,
        },
      },
      OPTED_OUT: {
        // Silence: messages are stored, nothing is answered, no follow-up is armed.
        on: { 'message.received': [{ guard: 'duplicate' }, { actions: record }] },
      },
    },
  });
}

export type ConversationMachine = ReturnType<typeof createConversationMachine>;

/** The stage of a state value: `{ QUALIFICATION: 'waiting' }` → 'QUALIFICATION'. */
export function stageOf(value: unknown): string {
  return typeof value === 'string' ? value : Object.keys(value as object)[0]!;
}
