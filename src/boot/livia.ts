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
import type { Sql } from '../db/client.ts';
import { createLiviaHandoff } from '../services/livia-handoff.ts';
import { LiviaConversationInbox, LiviaWhatsAppTransport } from '../services/livia-whatsapp.ts';
import type { WhatsAppService } from '../services/whatsapp/service.ts';
import { pushConversation } from './conversation-push.ts';
import type { Hub } from './hub.ts';

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
      send: (phone, e: ConversationEvent, opts) => o.system.send(CONVERSATION, phone, e, opts),
      typing: livia.typing,
    }),
  );
  return { inbox: new ConversationInbox({ system: o.system, transcriber, log: o.log }), brain };
}

/**
 * Lívia plugged into the server: the conversation actor sends on the `livia` WhatsApp session
 * (exactly once per reply, through the session actor's outbound path), hands off through the lead
 * pipeline, and every change of a conversation is pushed as `conversation:updated` to who may see
 * it. Returns the `ConversationInbox` the WhatsApp service hands `livia` messages to. Call it in
 * `startActors`' `beforeStart`, before `createWhatsApp`.
 */
export function wireLivia(d: {
  config: Config;
  sql: Sql;
  system: ActorSystem;
  log: Logger;
  hub: Hub;
  whatsapp: () => WhatsAppService;
}): LiviaConversationInbox {
  const log = d.log.child({ module: 'livia' });
  const transport = new LiviaWhatsAppTransport({ sql: d.sql, whatsapp: d.whatsapp, log });
  const handoff = createLiviaHandoff({
    sql: d.sql,
    log,
    pipeline: {
      intake: (lead) => {
        if (!d.hub.pipeline) throw new Error('lead pipeline not started');
        return d.hub.pipeline.intake(lead);
      },
      leadChanged: (lead, notifications) => {
        if (!d.hub.pipeline) throw new Error('lead pipeline not started');
        return d.hub.pipeline.leadChanged(lead, notifications);
      },
    },
  });
  const { inbox } = registerLivia({ config: d.config, system: d.system, transport, handoff, log });
  d.system.onChange((v) => {
    if (v.type !== CONVERSATION || !d.hub.io) return;
    void pushConversation(d.sql, d.hub, v.id).catch((err) => log.warn({ err }, 'pushing conversation:updated failed'));
  });
  return new LiviaConversationInbox({ sql: d.sql, inbox, log });
}
