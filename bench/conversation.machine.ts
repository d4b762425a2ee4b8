/**
 * A conversation-sized test machine for the actor benchmarks: a context of a dozen fields (a few
 * short strings, a couple of numbers, a small list; about 1 KB as JSON), and events that change it,
 * so every event is a new snapshot the runtime must persist.
 */
import { assign, setup } from 'xstate';
import type { ActorDefinition } from '../src/actors/runtime.ts';

export interface ConversationContext {
  conversationId: string;
  leadId: string;
  phone: string;
  customerName: string;
  city: string;
  stage: 'INTRO' | 'QUALIFICATION' | 'SIMULATION';
  lastInbound: string;
  lastOutbound: string;
  messageCount: number;
  requestedAmount: number;
  installments: number;
  score: number;
  tags: string[];
  summary: string;
  updatedAt: string;
}

export type ConversationEvent =
  | { type: 'message.received'; text: string; at: string }
  | { type: 'conversation.closed' };

export const conversationMachine = setup({
  types: {
    context: {} as ConversationContext,
    events: {} as ConversationEvent,
    input: {} as { id: string },
  },
}).createMachine({
  id: 'bench.conversation',
  initial: 'open',
  context: ({ input }) => initialContext(input.id),
  states: {
    open: {
      on: {
        'message.received': {
          actions: assign({
            messageCount: ({ context }) => context.messageCount + 1,
            lastInbound: ({ event }) => event.text,
            lastOutbound: ({ context }) => `Obrigada, ${context.customerName}! Recebi sua mensagem número ${context.messageCount + 1}.`,
            stage: ({ context }) => (context.messageCount >= 6 ? 'SIMULATION' : context.messageCount >= 2 ? 'QUALIFICATION' : 'INTRO'),
            score: ({ context }) => Math.min(100, context.score + 3),
            updatedAt: ({ event }) => event.at,
          }),
        },
        'conversation.closed': 'closed',
      },
    },
    closed: { type: 'final' },
  },
});

export function initialContext(id: string): ConversationContext {
  return {
    conversationId: id,
    leadId: `3f6c2a9e-1b7d-4c8e-9a0f-${id.padStart(12, '0').slice(-12)}`,
    phone: '+5511987654321',
    customerName: 'Maria Aparecida da Silva',
    city: 'São Bernardo do Campo',
    stage: 'INTRO',
    lastInbound: 'Olá, vi o anúncio e gostaria de saber mais sobre o empréstimo consignado para aposentados do INSS.',
    lastOutbound: 'Olá! Eu sou a Lívia, assistente virtual. Posso te ajudar a simular um crédito agora mesmo. Qual valor você precisa?',
    messageCount: 0,
    requestedAmount: 15000,
    installments: 84,
    score: 40,
    tags: ['consignado', 'inss', 'aposentado', 'whatsapp', 'campanha-outubro'],
    summary:
      'Cliente aposentada pelo INSS, interessada em crédito consignado; quer quitar dívidas do cartão e reformar a casa. ' +
      'Renda de dois salários mínimos, sem restrições conhecidas; prefere ser atendida pela manhã e por mensagem.',
    updatedAt: '2025-10-01T12:00:00.000Z',
  };
}

export const CONVERSATION = 'bench.conversation';

export function conversationActor(): ActorDefinition<typeof conversationMachine> {
  return { type: CONVERSATION, machine: conversationMachine, version: 1, input: (id) => ({ id }) };
}

export const CONVERSATION_WRITING = 'bench.conversation.writing';

/**
 * The same conversation with one domain write per message: the inbound message stored in
 * `bench_messages` in the event's transaction, as the WhatsApp conversation actor will.
 */
export function writingConversationActor(): ActorDefinition<typeof conversationMachine> {
  return {
    ...conversationActor(),
    type: CONVERSATION_WRITING,
    writes: {
      'message.received': (tx, w) => {
        const e = w.event as unknown as { text: string; at: string };
        return tx`insert into bench_messages (conversation_id, seq, text, at) values (${w.actorId}, ${w.seq}, ${e.text}, ${e.at})`;
      },
    },
  };
}

/** A machine whose only job is a durable `after` timer, for its firing lateness. */
export const alarmMachine = setup({
  types: { context: {} as { delayMs: number }, events: {} as { type: 'arm'; delayMs: number } },
  delays: { DUE: ({ context }) => context.delayMs },
}).createMachine({
  id: 'bench.alarm',
  context: { delayMs: 0 },
  initial: 'idle',
  states: {
    idle: { on: { arm: { target: 'waiting', actions: assign({ delayMs: ({ event }) => event.delayMs }) } } },
    waiting: { after: { DUE: 'fired' } },
    fired: {},
  },
});

export const ALARM = 'bench.alarm';

export function alarmActor(): ActorDefinition<typeof alarmMachine> {
  return { type: ALARM, machine: alarmMachine, version: 1 };
}

export const message = (n: number): ConversationEvent => ({
  type: 'message.received',
  text: `Quero simular ${1000 + (n % 50) * 500} reais em 84 vezes, mensagem ${n}`,
  at: new Date(1_760_000_000_000 + n * 1000).toISOString(),
});
