/**
 * The offline driver (`WHATSAPP_DRIVER=simulator`): development, demos and end-to-end tests. It speaks
 * the transport interface with Baileys-shaped objects, so everything after it is the code Baileys
 * feeds: customers' messages arrive as `messages.upsert` WAMessages (`notify`, or `append` for those
 * that came while the session was down), and our sends come back as `messages.update` receipts:
 * SERVER_ACK (sent), DELIVERY_ACK (delivered), READ when the customer reads (`read()`).
 *
 * Like WhatsApp, it keeps what it received in the database (wa_simulator_sent), once per message id:
 * a resend of the same id after a crash is not a second message. A phone ending in 0463 answers with
 * error 463 (the account is restricted), to exercise failures.
 *
 * @example
 * const driver = createDriver({ config, sql, log });
 * await driver.inject('consultant', { from: '+5511987654321', text: 'Oi' });
 */
import { randomBytes } from 'node:crypto';
import type { proto } from '@whiskeysockets/baileys';
import { simulatorMarkRead, simulatorQueueInbound, simulatorRecordSend, simulatorSentTo, simulatorTakeInbound } from '../../db/whatsapp.ts';
import { canonicalPhone, jidFromPhone, phoneVariants } from '../../domain/whatsapp/jid.ts';
import type {
  AnyMessageContent,
  MediaDownload,
  WAMessage,
  WAMessageKey,
  WhatsAppConnectOptions,
  WhatsAppConnection,
  WhatsAppDriver,
  WhatsAppDriverDeps,
  WhatsAppEmit,
} from './transport.ts';

/** proto.WebMessageInfo.Status, as numbers (no run-time Baileys import here). */
const STATUS = { ERROR: 0, SERVER_ACK: 2, DELIVERY_ACK: 3, READ: 4 } as const;

export interface SimulatedMedia {
  type: 'image' | 'audio' | 'voice' | 'video' | 'document' | 'sticker';
  mime: string;
  base64: string;
  fileName?: string | undefined;
}

export interface SimulatedInbound {
  from: string;
  text?: string | undefined;
  name?: string | undefined;
  media?: SimulatedMedia | undefined;
}

export interface SimulatorDriver extends WhatsAppDriver {
  readonly name: 'simulator';
  /** A customer's message arriving on that session; its WhatsApp id. */
  inject(session: string, m: SimulatedInbound): Promise<string>;
  /** What the project sent to that phone, oldest first. */
  sentTo(phone: string): Promise<{ session: string; to: string; text: string | null; at: string; id: string; read: boolean }[]>;
  /** The customer reads everything sent to that phone: READ receipts. */
  read(phone: string): Promise<number>;
  /** The session's socket asks to be paired (a fresh QR), as a logged-out phone would; false without a socket. */
  askPairing(session: string): boolean;
  /** What this instance's sockets did: read receipts sent (customers' message ids) and logouts (sessions), oldest first. */
  socketLog(): { read_receipts: string[]; logouts: string[] };
}

export const waMessageId = () => `3EB0${randomBytes(10).toString('hex').toUpperCase()}`;

/** How often an open socket looks for what customers wrote through another instance. */
const INBOX_POLL_MS = 100;

class SimConnection implements WhatsAppConnection {
  ended = false;
  #poll: ReturnType<typeof setInterval> | undefined;
  #cursor = 0;
  #polling = false;
  constructor(
    readonly session: string,
    readonly emit: WhatsAppEmit,
    private readonly world: World,
  ) {}

  private fire: WhatsAppEmit = (event, payload) => {
    if (!this.ended) this.emit(event, payload);
  };

  open(): void {
    setImmediate(() => {
      this.fire('connection.update', { connection: 'connecting' });
      this.fire('connection.update', { connection: 'open', isNewLogin: false });
      if (this.ended) return;
      // What arrived while we were away comes first, as `append`, like Baileys' offline messages.
      void this.#takeInbox('append').finally(() => {
        if (this.ended) return;
        this.#poll = setInterval(() => void this.#takeInbox('notify'), INBOX_POLL_MS);
        this.#poll.unref?.();
      });
    });
  }

  /** Messages customers wrote through another instance's simulator API (the shared world). */
  async #takeInbox(type: 'append' | 'notify'): Promise<void> {
    if (this.ended || this.#polling) return;
    this.#polling = true;
    try {
      const rows = await simulatorTakeInbound(this.world.sql, this.session, this.#cursor);
      for (const r of rows) {
        this.#cursor = Math.max(this.#cursor, r.id);
        if (r.media) this.world.media.set((r.message as WAMessage).key.id ?? '', Buffer.from(r.media, 'base64'));
      }
      if (rows.length > 0) this.fire('messages.upsert', { messages: rows.map((r) => r.message as WAMessage), type });
    } catch {
      // The database is away: the next poll tries again.
    } finally {
      this.#polling = false;
    }
  }

  deliver(msg: WAMessage): void {
    this.fire('messages.upsert', { messages: [msg], type: 'notify' });
  }

  askPairing(): void {
    this.fire('connection.update', { qr: `sim-pairing-${randomBytes(12).toString('hex')}` });
  }

  receipt(waId: string, jid: string, status: number, stub?: string[]): void {
    const key: WAMessageKey = { remoteJid: jid, fromMe: true, id: waId };
    this.fire('messages.update', [{ key, update: { status, ...(stub ? { messageStubParameters: stub } : {}) } }]);
  }

  async sendMessage(jid: string, content: AnyMessageContent, options: { messageId: string }): Promise<WAMessage | undefined> {
    if (this.ended) throw new Error('Connection Closed');
    const message = toProto(content);
    const text = message.conversation ?? message.extendedTextMessage?.text ?? message.imageMessage?.caption ?? message.documentMessage?.caption ?? null;
    const alreadyRead = false;
    const fresh = await simulatorRecordSend(this.world.sql, { session: this.session, waId: options.messageId, toJid: jid, text, content: message, sentBy: this.world.instanceId });
    const msg: WAMessage = {
      key: { remoteJid: jid, fromMe: true, id: options.messageId },
      message,
      messageTimestamp: Math.floor(Date.now() / 1000),
      status: 1,
    };
    // Our own send echoes back as an `append` upsert (Baileys' emitOwnEvents), then the receipts.
    setImmediate(() => {
      this.fire('messages.upsert', { messages: [msg], type: 'append' });
      if (jid.replace(/@.*/, '').endsWith('0463')) {
        this.receipt(options.messageId, jid, STATUS.ERROR, ['463']);
        return;
      }
      // A resend of an id already received is acknowledged again, but is not a second message.
      this.receipt(options.messageId, jid, STATUS.SERVER_ACK);
      if (fresh || !alreadyRead) setTimeout(() => this.receipt(options.messageId, jid, STATUS.DELIVERY_ACK), 5).unref();
    });
    return msg;
  }

  async sendPresenceUpdate(): Promise<void> {}

  async readMessages(keys: WAMessageKey[]): Promise<void> {
    this.world.readReceipts.push(...keys.map((k) => k.id ?? ''));
    if (this.world.readReceipts.length > 1000) this.world.readReceipts.splice(0, this.world.readReceipts.length - 1000);
  }

  async requestPairingCode(phoneDigits: string): Promise<string> {
    if (!/^\d{8,15}$/.test(phoneDigits)) throw new Error('invalid phone');
    return `SIM${phoneDigits.slice(-5)}`;
  }

  async downloadMedia(msg: WAMessage, options: { maxBytes: number }): Promise<MediaDownload> {
    const stored = this.world.media.get(msg.key.id ?? '');
    if (!stored) return { ok: false, reason: 'unavailable' };
    if (stored.length > options.maxBytes) return { ok: false, reason: 'too_large' };
    return { ok: true, data: stored };
  }

  async getPNForLID(lid: string): Promise<string | undefined> {
    return this.world.lids.get(lid);
  }

  me() {
    return { id: `5511900000000@s.whatsapp.net`, name: `Simulador (${this.session})` };
  }

  async logout(): Promise<void> {
    this.world.logouts.push(this.session);
    this.end();
  }

  end(): Promise<void> {
    // Synchronous: nothing is sent or received from here on.
    this.ended = true;
    clearInterval(this.#poll);
    return Promise.resolve();
  }
}

interface World {
  sql: WhatsAppDriverDeps['sql'];
  connections: Map<string, SimConnection>;
  media: Map<string, Buffer>;
  lids: Map<string, string>;
  readReceipts: string[];
  logouts: string[];
  /** Which instance's sockets these are (recorded with each send). */
  instanceId: string | undefined;
}

function toProto(content: AnyMessageContent): proto.IMessage {
  const c = content as Record<string, unknown>;
  if (typeof c.text === 'string') return { extendedTextMessage: { text: c.text } };
  const media = (c.image ?? c.document) as Buffer | undefined;
  if (media) {
    const kind = c.image ? 'imageMessage' : 'documentMessage';
    return {
      [kind]: {
        mimetype: (c.mimetype as string | undefined) ?? (c.image ? 'image/jpeg' : 'application/octet-stream'),
        fileLength: Buffer.isBuffer(media) ? media.length : 0,
        caption: (c.caption as string | undefined) ?? null,
        fileName: (c.fileName as string | undefined) ?? null,
      },
    } as proto.IMessage;
  }
  return { conversation: '' };
}

const MEDIA_KEY = {
  image: 'imageMessage',
  audio: 'audioMessage',
  voice: 'audioMessage',
  video: 'videoMessage',
  document: 'documentMessage',
  sticker: 'stickerMessage',
} as const;

export function createDriver(deps: WhatsAppDriverDeps): SimulatorDriver {
  const world: World = { sql: deps.sql, connections: new Map(), media: new Map(), lids: new Map(), readReceipts: [], logouts: [], instanceId: deps.config?.instanceId };
  const phoneJids = (phone: string) => {
    const e164 = canonicalPhone(phone);
    if (!e164) throw new Error('invalid phone');
    return phoneVariants(e164).map(jidFromPhone);
  };
  return {
    name: 'simulator',
    async connect(o: WhatsAppConnectOptions): Promise<WhatsAppConnection> {
      world.connections.get(o.session)?.end();
      const conn = new SimConnection(o.session, o.emit, world);
      world.connections.set(o.session, conn);
      conn.open();
      return conn;
    },
    async clearCredentials(): Promise<void> {},
    async inject(session, m) {
      const e164 = canonicalPhone(m.from);
      if (!e164) throw new Error('invalid phone');
      const id = waMessageId();
      let message: proto.IMessage;
      if (m.media) {
        const data = Buffer.from(m.media.base64, 'base64');
        world.media.set(id, data);
        message = {
          [MEDIA_KEY[m.media.type]]: {
            mimetype: m.media.mime,
            fileLength: data.length,
            caption: m.text ?? null,
            fileName: m.media.fileName ?? null,
            ptt: m.media.type === 'voice' ? true : undefined,
          },
        } as proto.IMessage;
      } else {
        message = { conversation: m.text ?? '' };
      }
      const msg: WAMessage = {
        key: { remoteJid: jidFromPhone(e164), fromMe: false, id },
        message,
        messageTimestamp: Math.floor(Date.now() / 1000),
        pushName: m.name ?? null,
      };
      const conn = world.connections.get(session);
      if (conn && !conn.ended) conn.deliver(msg);
      // The session's socket is in another instance, or in none yet: the shared world keeps it.
      else await simulatorQueueInbound(deps.sql, session, msg, m.media?.base64 ?? null);
      return id;
    },
    async sentTo(phone) {
      const rows = await simulatorSentTo(deps.sql, phoneJids(phone));
      return rows.map((r) => ({ session: r.session, to: phone, text: r.text, at: r.at.toISOString(), id: r.wa_id, read: !!r.read_at }));
    },
    askPairing(session) {
      const conn = world.connections.get(session);
      if (!conn || conn.ended) return false;
      conn.askPairing();
      return true;
    },
    socketLog: () => ({ read_receipts: world.readReceipts.slice(), logouts: world.logouts.slice() }),
    async read(phone) {
      const rows = await simulatorMarkRead(deps.sql, phoneJids(phone));
      for (const r of rows) world.connections.get(r.session)?.receipt(r.wa_id, r.to_jid, STATUS.READ);
      return rows.length;
    },
  };
}
