/**
 * Where the WhatsApp integration hands Lívia a customer's message: `deliver(session, phone, message)`.
 * Messages on the consultants' session are not Lívia's and are left alone. The phone is normalized
 * to E.164 (the conversation actor's id). A voice note is transcribed first (Groq Whisper, `pt`);
 * when there is no key or transcription fails, the message goes on with no text and Lívia asks for
 * the answer in writing. Images and documents go on as what they are, never read as answers.
 *
 * Redelivery is safe: the actor ignores a message id it has seen, and the transcript stores it once.
 *
 * @example
 * const inbox = new ConversationInbox({ system, transcriber });
 * await inbox.deliver('livia', '+55 11 98765-4321', { id: 'wamid.1', text: 'oi, aqui é a Carla' });
 */
import { CONVERSATION } from '../actors/conversation.ts';
import type { Transcriber } from '../actors/conversation/brain.ts';
import type { ConversationEvent, InboundKind } from '../actors/conversation.machine.ts';
import type { ActorView } from '../actors/types.ts';
import { normalizePhone } from '../domain/phone.ts';
import type { Logger } from '../log.ts';

export interface InboundMessage {
  /** The WhatsApp message id (deduplication key). */
  id: string;
  text?: string | undefined;
  media?: { kind: Exclude<InboundKind, 'text'>; mime: string; data?: Uint8Array | undefined } | undefined;
  at?: Date | undefined;
}

export interface ConversationSystem {
  send(type: string, id: string, event: ConversationEvent): Promise<ActorView>;
}

export class ConversationInbox {
  constructor(private readonly o: { system: ConversationSystem; transcriber: Transcriber; log?: Logger }) {}

  /** Resolves once the message is committed to the conversation (undefined: not Lívia's). */
  async deliver(session: 'livia' | 'consultant', phone: string, message: InboundMessage): Promise<ActorView | undefined> {
    if (session !== 'livia') return undefined;
    const e164 = normalizePhone(phone);
    if (!e164) throw new Error(`not a phone number: ${phone}`);
    let text = message.text?.trim() ?? '';
    const kind: InboundKind = message.media?.kind ?? 'text';
    if (kind === 'voice' && message.media?.data && !text) {
      const t = await this.o.transcriber.transcribe({ data: message.media.data, mime: message.media.mime });
      if (t.ok) text = t.text;
      else this.o.log?.info({ reason: t.reason }, 'voice note not transcribed; Lívia asks for text');
    }
    return this.o.system.send(CONVERSATION, e164, {
      type: 'message.received',
      id: message.id,
      text,
      kind,
      at: (message.at ?? new Date()).toISOString(),
    });
  }
}
