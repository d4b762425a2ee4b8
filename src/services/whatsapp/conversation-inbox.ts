/**
 * Where the `livia` session's customer messages go: the customer's conversation actor, which the next
 * issue implements behind this interface. Until then the default implementation records, visibly,
 * that nothing handles them: a warning once per process, a count in /ready's whatsapp check, and a
 * debug line per message. The message is stored and acknowledged before it gets here.
 *
 * @example
 * const inbox = new UnhandledConversationInbox(log);
 * await inbox.deliver({ session: 'livia', chatId, messageId, phone: '+5511987654321', text: 'Oi', at });
 */
import type { Logger } from '../../log.ts';

export interface InboundForConversation {
  session: string;
  chatId: string;
  messageId: string;
  waId: string;
  phone: string | null;
  name: string | null;
  kind: string;
  text: string | null;
  at: Date;
}

export interface ConversationInbox {
  deliver(m: InboundForConversation): Promise<void>;
  /** What /ready shows about it. */
  describe(): { handler: string; unhandled?: number };
}

export class UnhandledConversationInbox implements ConversationInbox {
  #count = 0;
  #warned = false;
  constructor(private readonly log: Logger) {}

  async deliver(m: InboundForConversation): Promise<void> {
    this.#count++;
    if (!this.#warned) {
      this.#warned = true;
      this.log.warn({ session: m.session }, 'no conversation handler yet: Lívia stores and acknowledges customer messages, and answers none');
    }
    this.log.debug({ session: m.session, chatId: m.chatId, messageId: m.messageId }, 'conversation message not handled (no handler yet)');
  }

  describe() {
    return { handler: 'none', unhandled: this.#count };
  }
}
