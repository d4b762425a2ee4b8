/**
 * Lívia on WhatsApp: the two adapters that join the conversation actor (src/actors/conversation.ts)
 * to the WhatsApp service (src/services/whatsapp/service.ts).
 *
 * - `LiviaWhatsAppTransport` sends Lívia's (and, while HUMAN, the consultant's) replies on the
 *   `livia` session through the session actor's exactly-once outbound path. Our message id and the
 *   WhatsApp id are derived from the reply effect's key, so a repeat after a crash names the same
 *   message: when its row exists, nothing is sent again; and were it sent, WhatsApp (and the
 *   simulator) keep one message per id.
 * - `LiviaConversationInbox` is the WhatsApp inbound handler's `ConversationInbox` for the `livia`
 *   session: it hands each stored customer message to Lívia's inbox (voice notes with their audio,
 *   so Groq can transcribe them; images and documents as what they are).
 *
 * @example
 * const transport = new LiviaWhatsAppTransport({ sql, whatsapp: () => wa });
 * const { inbox } = registerLivia({ config, system, transport, handoff, log });
 * createWhatsApp({ ..., conversations: new LiviaConversationInbox({ sql, inbox, log }) });
 */
import { createHash } from 'node:crypto';
import type { ConversationTransport } from '../actors/conversation.ts';
import type { InboundKind } from '../actors/conversation.machine.ts';
import type { Sql } from '../db/client.ts';
import { conversationByPhone } from '../db/conversations.ts';
import { liviaChatByPhone, mediaOfMessage, outboundExists, undeliveredInbound } from '../db/livia-whatsapp.ts';
import { jidFromPhone, phoneVariants } from '../domain/whatsapp/jid.ts';
import type { Logger } from '../log.ts';
import type { ConversationInbox as LiviaInbox } from './conversation-inbox.ts';
import type { ConversationInbox, InboundForConversation } from './whatsapp/conversation-inbox.ts';
import type { WhatsAppService } from './whatsapp/service.ts';

export const LIVIA_SESSION = 'livia';

/** A stable message id pair for an effect key: our row id (a UUID) and the WhatsApp id. */
export function outboundIds(key: string): { messageId: string; waId: string } {
  const h = createHash('sha256').update(`livia-reply:${key}`).digest('hex');
  const messageId = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  return { messageId, waId: `3EB0${h.slice(32, 52).toUpperCase()}` };
}

export class LiviaWhatsAppTransport implements ConversationTransport {
  constructor(private readonly o: { sql: Sql; whatsapp: () => WhatsAppService; log?: Logger }) {}

  async send(m: { phone: string; text: string; role: 'livia' | 'consultant'; n: number; key: string; by?: string | undefined }): Promise<void> {
    const { messageId, waId } = outboundIds(m.key);
    // A repeat of an effect whose send was already recorded: the session actor sends it (once).
    if (await outboundExists(this.o.sql, LIVIA_SESSION, waId)) return;
    // The customer's data was erased (LGPD) while this reply waited: it is not sent.
    if (!(await conversationByPhone(this.o.sql, m.phone))) return;
    const chat = await liviaChatByPhone(this.o.sql, LIVIA_SESSION, { jid: jidFromPhone(m.phone), phone: m.phone, phones: phoneVariants(m.phone) });
    await this.o.whatsapp().sendAs({ session: LIVIA_SESSION, chatId: chat.id, jid: chat.jid, messageId, waId, text: m.text, sentBy: m.by ?? null });
  }

  async typing(phone: string, ms: number): Promise<void> {
    const wa = this.o.whatsapp();
    const jid = jidFromPhone(phone);
    await wa.typing(LIVIA_SESSION, jid, true).catch((err) => this.o.log?.debug({ err }, 'typing presence failed'));
    setTimeout(() => void wa.typing(LIVIA_SESSION, jid, false).catch(() => {}), ms).unref();
  }
}

/** WhatsApp's message kinds as Lívia reads them. */
export function inboundKind(kind: string): InboundKind {
  if (kind === 'text') return 'text';
  if (kind === 'voice' || kind === 'audio') return 'voice';
  if (kind === 'image' || kind === 'sticker' || kind === 'video') return 'image';
  if (kind === 'document') return 'document';
  return 'other';
}

/** Delays between recovery rounds while stored messages cannot be handed to their conversation. */
const RECOVERY_BACKOFF_MS = [1000, 2000, 4000, 8000, 10_000];

export class LiviaConversationInbox implements ConversationInbox {
  #delivered = 0;
  #unroutable = 0;
  #failed = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #stopped = false;
  constructor(
    private readonly o: { sql: Sql; inbox: Pick<LiviaInbox, 'deliver'>; log: Logger; backoffMs?: readonly number[] },
  ) {}

  async deliver(m: InboundForConversation): Promise<void> {
    if (m.session !== LIVIA_SESSION) return;
    if (!m.phone) {
      // A LID we cannot map to a phone has no conversation id; it stays in the inbox, counted.
      this.#unroutable++;
      this.o.log.warn({ chatId: m.chatId, messageId: m.messageId }, 'Lívia: a message without a phone number is not answered');
      return;
    }
    try {
      await this.#hand(m, m.phone);
    } catch (err) {
      // Stored but not handed over (the database refused the event: a lock held by a paused
      // previous owner, a restart): a recovery round hands it over again, until it goes through.
      this.#failed++;
      this.#recoverLater();
      throw err;
    }
    this.#delivered++;
  }

  async #hand(m: InboundForConversation, phone: string): Promise<void> {
    const kind = inboundKind(m.kind);
    let media: { kind: Exclude<InboundKind, 'text'>; mime: string; data?: Uint8Array } | undefined;
    if (kind !== 'text') {
      const stored = await mediaOfMessage(this.o.sql, m.messageId);
      media = { kind, mime: stored?.mime ?? 'application/octet-stream', ...(stored?.data ? { data: new Uint8Array(stored.data) } : {}) };
    }
    await this.o.inbox.deliver(LIVIA_SESSION, phone, { id: m.waId, text: m.text ?? undefined, media, at: m.at });
  }

  /**
   * After a crash or a takeover: the customer messages stored in the last `withinMs` that never
   * reached their conversation are delivered now, oldest first (the actor ignores one it has
   * seen). Older ones are left alone: answering a message hours late would be worse than not
   * answering it. A message that fails again is retried by further rounds (1 s, 2 s, 4 s, 8 s,
   * then every 10 s), each failure logged, until `stop()` (the session left this instance).
   * Returns how many messages were found undelivered.
   */
  async recover(withinMs = 60 * 60 * 1000): Promise<number> {
    this.#stopped = false;
    const rows = await undeliveredInbound(this.o.sql, LIVIA_SESSION, new Date(Date.now() - withinMs)).catch((err: unknown) => {
      this.o.log.error({ err }, 'Lívia: reading the undelivered customer messages failed');
      this.#recoverLater();
      return [];
    });
    let failed = 0;
    for (const r of rows) {
      if (this.#stopped) break;
      await this.deliver({ session: LIVIA_SESSION, chatId: r.chat_id, messageId: r.id, waId: r.wa_id, phone: r.phone, name: r.name, kind: r.kind, text: r.text, at: r.at }).catch((err) => {
        failed++;
        this.o.log.error({ err, chatId: r.chat_id, waId: r.wa_id }, 'Lívia: redelivering a stored message failed; retrying');
      });
    }
    if (failed === 0 && this.#retry === undefined) this.#attempt = 0;
    if (rows.length > 0) this.o.log.info({ count: rows.length, failed }, 'Lívia: redelivered customer messages a crash left unanswered');
    return rows.length;
  }

  /** No more recovery rounds here (the `livia` session left this instance, or it shuts down). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#attempt = 0;
  }

  #recoverLater(): void {
    if (this.#stopped || this.#retry) return;
    const backoff = this.o.backoffMs ?? RECOVERY_BACKOFF_MS;
    const ms = backoff[Math.min(this.#attempt++, backoff.length - 1)]!;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      void this.recover();
    }, ms);
    this.#retry.unref?.();
  }

  describe() {
    return { handler: 'livia', delivered: this.#delivered, unroutable: this.#unroutable, failed: this.#failed, retrying: this.#retry !== undefined };
  }
}
