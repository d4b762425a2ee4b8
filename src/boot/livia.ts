/**
 * Lívia's part of the composition root, for the WhatsApp integration to call: registers the
 * conversation actor on the actor system (before `system.start()`), with the brain and the voice
 * transcriber chosen by `GROQ_API_KEY`, and returns the inbox inbound messages are delivered to.
 *
 * @example
 * const livia = registerLivia({ config, system, transport, handoff, log });
 * await system.start();
 * await livia.inbox.deliver('livia', from, { id: waId, text });
 */
import { CONVERSATION, conversationActor, type ConversationTransport, type HandoffPort } from '../actors/conversation.ts';
import { createBrain, createTranscriber, type Brain, type Transcriber } from '../actors/conversation/brain.ts';
import type { ConversationEvent, ConversationSettings } from '../actors/conversation.machine.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { ConversationInbox } from '../services/conversation-inbox.ts';

export function liviaSettings(config: Pick<Config, 'livia'>): ConversationSettings {
  const l = config.livia;
  return { monthlyRate: l.monthlyRate, maxIncomeShare: l.maxIncomeShare, followUpMs: l.followUpMs, burstMs: l.burstMs, hours: l.hours };
}

export function registerLivia(o: {
  config: Pick<Config, 'livia' | 'groq'>;
  system: ActorSystem;
  transport: ConversationTransport;
  handoff?: HandoffPort;
  log: Logger;
  brain?: Brain;
  transcriber?: Transcriber;
}): { inbox: ConversationInbox; brain: Brain } {
  const { groq, livia } = o.config;
  const brain = o.brain ?? createBrain({ apiKey: groq.apiKey, baseUrl: groq.baseUrl, model: groq.model, timeoutMs: livia.brainTimeoutMs, log: o.log });
  const transcriber =
    o.transcriber ?? createTranscriber({ apiKey: groq.apiKey, baseUrl: groq.baseUrl, model: livia.transcriptionModel, log: o.log });
  o.system.register(
    conversationActor({
      settings: liviaSettings(o.config),
      brain,
      transport: o.transport,
      ...(o.handoff ? { handoff: o.handoff } : {}),
      send: (phone, e: ConversationEvent) => o.system.send(CONVERSATION, phone, e),
      typing: livia.typing,
    }),
  );
  return { inbox: new ConversationInbox({ system: o.system, transcriber, log: o.log }), brain };
}
