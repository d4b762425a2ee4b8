/**
 * Inbound WhatsApp messages, from either driver: `messages.upsert` of type `notify` AND `append`
 * (those received while disconnected). Per session, in arrival order:
 * 1. normalize (groups, status broadcasts, newsletters and protocol noise are ignored, and counted);
 * 2. resolve the customer: phone from the JID, or for a LID from `remoteJidAlt`, our persisted
 *    mapping, or the driver's; one customer is one chat whichever form a message carries;
 * 3. store it, once per WhatsApp id (a redelivery stores nothing), before anything acts on it;
 * 4. media: downloaded and stored up to the cap, past it the message keeps a marker;
 * 5. route: the `consultant` session links the chat to the lead with that phone, or creates one
 *    (source `whatsapp`) through the lead pipeline; the `livia` session hands the message to the
 *    ConversationInbox; then `whatsapp:message` goes to whoever may see the chat.
 *
 * @example
 * handler.upsert('consultant', { messages: [waMessage], type: 'notify' });
 * await handler.idle('consultant');
 */
import { normalizeMessage, type Normalized } from '../../domain/whatsapp/normalize.ts';
import { phoneFromJid, phoneVariants } from '../../domain/whatsapp/jid.ts';
import type { Sql } from '../../db/client.ts';
import type { NewLead } from '../../db/leads.ts';
import {
  applyEdit,
  applyRevoke,
  chatById,
  insertMedia,
  insertMessage,
  leadByPhones,
  linkChatToLead,
  messageById,
  pnForLid,
  resolveChat,
  saveLidMapping,
  type ChatRow,
  type ChatSummary,
  type MessageRow,
  type MessageWithMedia,
} from '../../db/whatsapp.ts';
import type { WAMessage, WhatsAppConnection, WhatsAppEventMap } from '../../actors/whatsapp/transport.ts';
import type { Logger } from '../../log.ts';
import type { ConversationInbox } from './conversation-inbox.ts';

/** The lead pipeline's intake (a new lead from a customer who wrote first). */
export type LeadIntake = (lead: NewLead) => Promise<{ id: string }>;

export interface InboundDeps {
  sql: Sql;
  log: Logger;
  mediaMaxBytes: number;
  intake: LeadIntake;
  conversations: ConversationInbox;
  connection(session: string): WhatsAppConnection | undefined;
  /** A new message is stored (index, push). */
  stored(chat: ChatSummary, msg: MessageWithMedia): void;
  /** An earlier message changed (edit, delete, media arrived). */
  changed(chat: ChatSummary, msg: MessageWithMedia): void;
  chatChanged(chat: ChatSummary): void;
}

export interface InboundCounters {
  stored: number;
  duplicates: number;
  ignored: number;
  failed: number;
}

export class InboundHandler {
  readonly counters: InboundCounters = { stored: 0, duplicates: 0, ignored: 0, failed: 0 };
  readonly #chains = new Map<string, Promise<void>>();
  #open!: () => void;
  /** Sockets may open (and deliver what came while offline) before the lead pipeline exists. */
  readonly #opened = new Promise<void>((r) => (this.#open = r));

  constructor(private readonly d: InboundDeps) {}

  /** Starts handling; what arrived before waits, in order, until then. */
  open(): void {
    this.#open();
  }

  /** Queues an upsert behind the session's earlier ones (arrival order per session). */
  upsert(session: string, u: WhatsAppEventMap['messages.upsert']): Promise<void> {
    const prev = this.#chains.get(session) ?? this.#opened;
    const next = prev.then(async () => {
      for (const msg of u.messages) {
        try {
          await this.handle(session, msg);
        } catch (err) {
          this.counters.failed++;
          this.d.log.error({ err, session, waId: msg.key?.id, type: u.type }, 'storing an inbound WhatsApp message failed');
        }
      }
    });
    this.#chains.set(session, next);
    return next;
  }

  /** Resolves when everything queued for that session is handled. */
  async idle(session: string): Promise<void> {
    await this.#chains.get(session);
  }

  async handle(session: string, msg: WAMessage): Promise<void> {
    const n = normalizeMessage(msg);
    if (n.kind === 'ignored') {
      this.counters.ignored++;
      this.d.log.debug({ session, waId: n.waId, reason: n.reason }, 'WhatsApp message ignored');
      return;
    }
    const peer = await this.#peer(session, n);
    const sql = this.d.sql;

    if (n.kind === 'edit' || n.kind === 'revoke') {
      const row = n.kind === 'edit' ? await applyEdit(sql, session, n.targetWaId, n.text, n.at) : await applyRevoke(sql, session, n.targetWaId, n.at);
      if (row) await this.#changed(row);
      return;
    }

    const { chat, row } = await sql.begin(async (tx) => {
      const chat = await resolveChat(tx, {
        session,
        jid: peer.jid,
        phone: peer.phone,
        phones: peer.phone ? phoneVariants(peer.phone) : [],
        lid: peer.lid,
        name: n.fromMe ? null : n.pushName,
      });
      const row = await insertMessage(tx, {
        chatId: chat.id,
        session,
        waId: n.waId,
        direction: n.fromMe ? 'out' : 'in',
        kind: n.type,
        text: n.text,
        quotedWaId: n.quoted?.waId ?? null,
        quotedText: n.quoted?.text ?? null,
        // Our own messages sent from the phone itself are already on WhatsApp's server.
        status: n.fromMe ? 'sent' : 'received',
        content: n.fromMe ? (msg.message ?? null) : undefined,
        at: n.at,
      });
      return { chat, row };
    });
    if (!row) {
      this.counters.duplicates++;
      return;
    }
    this.counters.stored++;

    if (n.media) await this.#media(session, msg, row, n.media);
    // Stored and kept whatever happens next: a routing failure (the pipeline refusing under load) is
    // logged, and the customer's next message routes the chat again (it is still unlinked).
    const linked = n.fromMe
      ? chat
      : await this.#route(session, chat, row, n, peer.phone).catch((err: unknown) => {
          this.counters.failed++;
          this.d.log.error({ err, session, chatId: chat.id, waId: row.wa_id }, 'routing a stored WhatsApp message failed');
          return chat;
        });
    const summary = (await chatById(sql, linked.id))!;
    this.d.chatChanged(summary);
    this.d.stored(summary, await this.#withMedia(row));
  }

  async #peer(session: string, n: Exclude<Normalized, { kind: 'ignored' }>): Promise<{ jid: string; phone: string | null; lid: string | null }> {
    const lid = n.peer.lid;
    let { phone, pnJid } = n.peer;
    if (lid && pnJid) await saveLidMapping(this.d.sql, lid, pnJid);
    if (lid && !pnJid) {
      pnJid = (await pnForLid(this.d.sql, lid)) ?? null;
      if (!pnJid) {
        pnJid = (await this.d.connection(session)?.getPNForLID(lid).catch(() => undefined)) ?? null;
        if (pnJid) await saveLidMapping(this.d.sql, lid, pnJid);
      }
      phone = pnJid ? phoneFromJid(pnJid) : null;
    }
    return { jid: pnJid ?? lid ?? n.remoteJid, phone, lid };
  }

  async #media(session: string, msg: WAMessage, row: MessageRow, media: NonNullable<Extract<Normalized, { kind: 'message' }>['media']>): Promise<void> {
    const base = { messageId: row.id, type: media.type, mime: media.mime, fileName: media.fileName };
    if (media.size !== null && media.size > this.d.mediaMaxBytes) {
      await insertMedia(this.d.sql, { ...base, size: media.size, status: 'too_large', failure: `acima de ${this.d.mediaMaxBytes} bytes`, data: null });
      return;
    }
    const conn = this.d.connection(session);
    const got = conn ? await conn.downloadMedia(msg, { maxBytes: this.d.mediaMaxBytes }).catch((err: Error) => ({ ok: false as const, reason: 'unavailable' as const, detail: err.message })) : ({ ok: false, reason: 'unavailable', detail: 'sem conexão' } as const);
    if (got.ok) {
      await insertMedia(this.d.sql, { ...base, mime: got.mime ?? media.mime, size: got.data.length, status: 'stored', data: got.data });
    } else {
      await insertMedia(this.d.sql, {
        ...base,
        size: media.size,
        status: got.reason === 'too_large' ? 'too_large' : 'failed',
        failure: got.detail ?? got.reason,
        data: null,
      });
    }
  }

  async #route(session: string, chat: ChatRow, row: MessageRow, n: Extract<Normalized, { kind: 'message' }>, phone: string | null): Promise<ChatRow> {
    if (session === 'livia') {
      await this.d.conversations.deliver({
        session,
        chatId: chat.id,
        messageId: row.id,
        waId: row.wa_id,
        phone,
        name: chat.name,
        kind: row.kind,
        text: row.text,
        at: row.at,
      });
      return chat;
    }
    if (chat.lead_id || !phone) return chat;
    const phones = phoneVariants(phone);
    let leadId = (await leadByPhones(this.d.sql, phones))?.id;
    if (!leadId) {
      const created = await this.d.intake({
        name: n.pushName?.trim() || phone,
        phone,
        email: null,
        source: 'whatsapp',
        externalId: null,
        // One customer writing twice before assignment is still one lead.
        idempotencyKey: `whatsapp:${phone}`,
        message: n.text,
        requestedAmount: null,
        monthlyIncome: null,
        metadata: { whatsapp: { session, chat_id: chat.id } },
      });
      leadId = created.id;
    }
    await linkChatToLead(this.d.sql, chat.id, leadId);
    return { ...chat, lead_id: leadId };
  }

  async #withMedia(row: MessageRow): Promise<MessageWithMedia> {
    return (await messageById(this.d.sql, row.id))!;
  }

  async #changed(row: MessageRow): Promise<void> {
    const chat = await chatById(this.d.sql, row.chat_id);
    if (chat) this.d.changed(chat, await this.#withMedia(row));
  }
}
