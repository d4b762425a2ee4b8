/**
 * WhatsApp sessions, composed: each session is a `whatsapp-session` actor whose state decides, and
 * this service makes the socket follow it (through the actor's start/stop hooks and the system's
 * change listener): one connection per session and generation, ended when the state wants none.
 * Driver events go in: connection updates become machine events; `messages.upsert` (notify AND
 * append) goes to the inbound handler; `messages.update` receipts move outbound statuses.
 * Outbound: `send()` asks the actor, whose commit records the pending row, and whose durable effect
 * sends it once under our WhatsApp id, throttled per session.
 *
 * @example
 * const wa = new WhatsAppService({ sql, system, log, driver, sessions: ['consultant', 'livia'], ... });
 * wa.register(); await system.start(); await wa.start();
 * await wa.send({ chatId, text: 'Olá', sentBy: user.id });
 */
import { randomUUID } from 'node:crypto';
import { toDataURL } from 'qrcode';
import type { Sql, TransactionSql } from '../../db/client.ts';
import {
  advanceStatus,
  attachMedia,
  chatById,
  insertMedia,
  insertMessage,
  listChatSummaries,
  listMessages,
  markChatRead,
  mediaById,
  mediaKind,
  messageById,
  messageStatus,
  saveLidMapping,
  sentContent,
  type ChatSummary,
  type MessageRow,
  type MessageStatus,
  type MessageWithMedia,
} from '../../db/whatsapp.ts';
import type { ActorSystem } from '../../actors/runtime.ts';
import type { ActorView, EffectContext, HookContext } from '../../actors/types.ts';
import { WHATSAPP_SESSION, whatsappSessionActor } from '../../actors/whatsapp-session.ts';
import { sessionStatus, wantsSocket, type OutboundSend, type SessionStatus, type WhatsAppSessionContext } from '../../actors/whatsapp-session.machine.ts';
import type { AnyMessageContent, WhatsAppConnection, WhatsAppDriver, WhatsAppEventMap, WhatsAppEventName } from '../../actors/whatsapp/transport.ts';
import { waMessageId } from '../../actors/whatsapp/simulator-driver.ts';
import { optedOut } from '../../db/livia-whatsapp.ts';
import { phoneVariants } from '../../domain/whatsapp/jid.ts';
import type { Logger } from '../../log.ts';
import { ServiceError } from '../errors.ts';
import { createChatIndex, maySee, visibleChats, type ChatEntry } from './chat-index.ts';
import type { ConversationInbox } from './conversation-inbox.ts';
import { InboundHandler, type LeadIntake } from './inbound.ts';
import { SendThrottle } from './throttle.ts';

export interface WhatsAppPush {
  /** To everyone signed in. */
  all(event: string, payload: unknown): void;
  /** To whoever may see that chat (admins, managers, the consultant of its lead). */
  chat(chat: { consultant_id: string | null }, event: string, payload: unknown): void;
}

export interface WhatsAppServiceDeps {
  sql: Sql;
  system: ActorSystem;
  log: Logger;
  /** Undefined: no driver could be loaded; every session goes `failed` ("driver not available"). */
  driver: WhatsAppDriver | undefined;
  driverError?: string | undefined;
  sessions: string[];
  mediaMaxBytes: number;
  sendPerMinute: number;
  intake: LeadIntake;
  conversations: ConversationInbox;
  push: WhatsAppPush;
  /** How long a send waits for an open socket before its run counts as failed (then retried). */
  sendWaitMs?: number;
  /**
   * Several instances: whether this one owns the session now (its lease, checked synchronously).
   * Only the owner opens the session's socket, and every use of the socket checks it right before.
   */
  owns?(session: string): boolean;
  /** Who owns each session, for /ready. */
  owners?(): Promise<Record<string, { instance: string | null; epoch: number | null; here: boolean }>>;
  /**
   * Several instances: runs an operation at the session's owner (a durable job on its lease's
   * inbox, src/actors/forwarding.ts) and answers with its result; `handle` registers what this
   * instance runs when it is the owner. Absent: every session is here.
   */
  remote?: {
    call(session: string, op: string, args: unknown, opts?: { timeoutMs?: number; durable?: boolean }): Promise<unknown>;
    handle(op: string, fn: (args: unknown) => Promise<unknown>): void;
  };
}

/** This instance no longer owns the session: nothing goes out on its socket. */
export class SessionNotOwnedError extends Error {
  override name = 'SessionNotOwnedError';
}

export interface SessionView {
  name: string;
  status: SessionStatus;
  qr?: string;
  phone?: string;
  reason?: string;
  since?: string;
}

export interface MessageView {
  id: string;
  chat_id: string;
  direction: 'in' | 'out';
  kind: string;
  text: string | null;
  status: MessageStatus;
  failure: string | null;
  at: string;
  quoted: { id: string; text: string | null } | null;
  edited: boolean;
  deleted: boolean;
  media?: { id: string; type: string; mime: string; size: number | null; status: string; file_name: string | null; url: string };
}

interface Live {
  generation: number;
  conn: WhatsAppConnection | undefined;
  chain: Promise<void>;
  receipts: Promise<void>;
  waiters: Set<() => void>;
  /** Changes pushed as `whatsapp:session`: only the view read for the latest one goes out. */
  pushed: number;
}

interface ReadReceipts {
  session: string;
  jid: string;
  ids: string[];
}

const RECEIPT: Record<number, MessageStatus> = { 0: 'failed', 2: 'sent', 3: 'delivered', 4: 'read', 5: 'read' };

export class WhatsAppError extends ServiceError {
  constructor(kind: 'not_found' | 'conflict' | 'invalid', message: string) {
    super(kind, kind === 'invalid' ? 'validation_failed' : kind, message);
  }
}

export class WhatsAppService {
  readonly index = createChatIndex();
  readonly inbound: InboundHandler;
  readonly #live = new Map<string, Live>();
  readonly #throttle: SendThrottle;
  readonly #qr = new Map<string, { raw: string; url: string }>();
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  constructor(private readonly d: WhatsAppServiceDeps) {
    this.#throttle = new SendThrottle(d.sendPerMinute);
    this.inbound = new InboundHandler({
      sql: d.sql,
      log: d.log,
      mediaMaxBytes: d.mediaMaxBytes,
      intake: d.intake,
      conversations: d.conversations,
      connection: (s) => this.#live.get(s)?.conn,
      // The chat's entry was just refreshed from the database (chatChanged): push only.
      stored: (chat, msg) => this.#pushMessage(this.#chatEntry(chat.id) ?? chat, msg),
      changed: (chat, msg) => this.#pushMessage(chat, msg),
      chatChanged: (chat) => this.index.trigger.chat({ chat }),
    });
  }

  get sessions(): string[] {
    return this.d.sessions;
  }

  /** The actor definition; register before the system starts. */
  register(): void {
    this.d.system.register(
      whatsappSessionActor({
        send: (p, ctx) => this.#sendEffect(p, ctx),
        clearCredentials: (s) => this.d.driver?.clearCredentials(s) ?? Promise.resolve(),
        recordPending: (tx, s, e) => this.#recordPending(tx, s, e),
        started: (ctx) => this.#started(ctx),
        stopped: (ctx) => this.#stopped_(ctx),
      }),
    );
    // What another instance asks of a session this one owns (run only while it owns it).
    this.d.remote?.handle('whatsapp.logout', (a) => this.#logoutHere((a as { name: string }).name));
    this.d.remote?.handle('whatsapp.pairingCode', (a) => this.#pairingCodeHere((a as { name: string }).name, (a as { phone: string }).phone));
    this.d.remote?.handle('whatsapp.readReceipts', (a) => this.#readReceiptsHere(a as ReadReceipts));
    // Before the system starts: sessions restored by it change state before start() is called.
    this.#unsubscribe = this.d.system.onChange((v) => {
      if (v.type === WHATSAPP_SESSION) this.#changed(v);
    });
  }

  /**
   * Rebuilds the chat index, then brings every session this instance owns to life (its start hook
   * opens its socket). With several instances the others come to life as their leases are won.
   */
  async start(): Promise<void> {
    this.index.trigger.loaded({ chats: await listChatSummaries(this.d.sql) });
    this.inbound.open();
    for (const s of this.d.sessions) {
      if (this.#owns(s)) await this.bootSession(s);
    }
  }

  /** Brings one session to life here (this instance just became its owner). */
  async bootSession(s: string): Promise<void> {
    await this.d.system.send(WHATSAPP_SESSION, s, { type: 'session.boot' });
    if (!this.d.driver) {
      await this.d.system.send(WHATSAPP_SESSION, s, { type: 'driver.unavailable', message: this.d.driverError ?? 'driver not available', at: now() });
    }
  }

  /**
   * This instance lost the session's lease: its socket ends now, synchronously as far as the driver
   * allows (the simulator's and Baileys' `end()` stop sending before they await anything).
   */
  sessionLost(session: string): void {
    const l = this.#live.get(session);
    if (!l) return;
    l.generation = -1;
    const conn = l.conn;
    l.conn = undefined;
    void conn?.end().catch((err) => this.d.log.warn({ err, session }, 'ending a WhatsApp socket failed'));
    for (const w of l.waiters) w();
  }

  #owns(session: string): boolean {
    return !this.d.owns || this.d.owns(session);
  }

  /** The socket, only while this instance owns the session: checked right before each use. */
  #fence(session: string): void {
    if (!this.#owns(session)) {
      this.sessionLost(session);
      throw new SessionNotOwnedError(`this instance no longer owns WhatsApp session ${session}`);
    }
  }

  /** Rebuilds the chat index from the database (after chats were erased under it: LGPD). */
  async reloadIndex(): Promise<void> {
    this.index.trigger.loaded({ chats: await listChatSummaries(this.d.sql) });
  }

  /** Ends every socket (the actors' stop hooks do it too; this is for shutdown order). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    await Promise.allSettled([...this.#live.values()].map((l) => l.conn?.end()));
    this.#live.clear();
  }

  // ---- sessions ----

  async sessionViews(): Promise<SessionView[]> {
    return Promise.all(this.d.sessions.map((s) => this.sessionView(s)));
  }

  async sessionView(name: string): Promise<SessionView> {
    const view = await this.d.system.inspect(WHATSAPP_SESSION, name);
    const ctx = view?.context as WhatsAppSessionContext | undefined;
    const status = view ? (view.status === 'failed' ? 'failed' : sessionStatus(view.value)) : 'connecting';
    const out: SessionView = { name, status };
    if (ctx?.qr && status === 'pairing') out.qr = await this.#qrUrl(name, ctx.qr);
    if (ctx?.me) out.phone = `+${ctx.me.replace(/[:@].*/, '')}`;
    if (ctx?.reason) out.reason = ctx.reason;
    else if (view?.failure) out.reason = view.failure;
    if (ctx?.since) out.since = ctx.since;
    return out;
  }

  /** /ready: each session's real state (as its owner last recorded it), and who owns it. */
  async readiness(): Promise<{
    status: 'ok' | 'down' | 'starting';
    driver: string;
    sessions: Record<string, string>;
    owners?: Record<string, { instance: string | null; epoch: number | null; here: boolean }>;
    conversations: unknown;
    inbound: unknown;
  }> {
    const views = await this.sessionViews();
    const sessions = Object.fromEntries(views.map((v) => [v.name, v.status]));
    const down = views.some((v) => v.status === 'failed' || v.status === 'loggedOut' || v.status === 'replaced');
    return {
      status: views.every((v) => v.status === 'open') ? 'ok' : down ? 'down' : 'starting',
      driver: this.d.driver?.name ?? 'unavailable',
      sessions,
      ...(this.d.owners ? { owners: await this.d.owners() } : {}),
      conversations: this.d.conversations.describe(),
      inbound: { ...this.inbound.counters },
    };
  }

  #known(name: string): void {
    if (!this.d.sessions.includes(name)) throw new WhatsAppError('not_found', 'Sessão desconhecida');
  }

  /** Asked on any instance; done by the session's owner (its socket logs out there). */
  async logout(name: string): Promise<void> {
    this.#known(name);
    if (this.d.remote && !this.#owns(name)) {
      await this.d.remote.call(name, 'whatsapp.logout', { name });
      return;
    }
    await this.#logoutHere(name);
  }

  async #logoutHere(name: string): Promise<void> {
    const live = this.#live.get(name);
    const conn = live?.conn;
    if (live) live.conn = undefined;
    await conn?.logout().catch((err) => this.d.log.warn({ err, session: name }, 'WhatsApp logout failed; credentials are wiped anyway'));
    await this.d.system.send(WHATSAPP_SESSION, name, { type: 'session.logout', at: now() });
  }

  async reconnect(name: string): Promise<void> {
    this.#known(name);
    await this.d.system.send(WHATSAPP_SESSION, name, { type: 'session.reconnect', at: now() });
  }

  /** Asked on any instance; the code comes from the owner's socket. */
  async pairingCode(name: string, phone: string): Promise<string> {
    this.#known(name);
    if (this.d.remote && !this.#owns(name)) return (await this.d.remote.call(name, 'whatsapp.pairingCode', { name, phone })) as string;
    return this.#pairingCodeHere(name, phone);
  }

  async #pairingCodeHere(name: string, phone: string): Promise<string> {
    const view = await this.sessionView(name);
    const conn = this.#live.get(name)?.conn;
    if (!conn || (view.status !== 'pairing' && view.status !== 'connecting')) {
      throw new WhatsAppError('conflict', 'A sessão não está aguardando pareamento');
    }
    return conn.requestPairingCode(phone.replace(/\D/g, '')).catch((err: Error & { reason?: string }) => {
      // The Baileys driver's PairingCodeRefusedError (paired already, before the handshake, bad phone).
      if (err.name !== 'PairingCodeRefusedError') throw err;
      if (err.reason === 'invalid_phone') throw new WhatsAppError('invalid', 'Telefone inválido: informe DDI e DDD, só dígitos');
      if (err.reason === 'registered') throw new WhatsAppError('conflict', 'A sessão já está pareada');
      throw new WhatsAppError('conflict', 'A sessão ainda não está pronta para parear; tente de novo em instantes');
    });
  }

  // ---- the socket follows the actor ----

  #entry(session: string): Live {
    let l = this.#live.get(session);
    if (!l) {
      l = { generation: 0, conn: undefined, chain: Promise.resolve(), receipts: Promise.resolve(), waiters: new Set(), pushed: 0 };
      this.#live.set(session, l);
    }
    return l;
  }

  #started(ctx: HookContext): void {
    const snap = ctx.snapshot as { value: unknown; context: WhatsAppSessionContext };
    this.#reconcile(ctx.actorId, snap.value, snap.context);
  }

  async #stopped_(ctx: HookContext): Promise<void> {
    const l = this.#live.get(ctx.actorId);
    if (!l) return;
    l.generation = -1;
    const conn = l.conn;
    l.conn = undefined;
    await conn?.end();
  }

  #changed(v: ActorView): void {
    if (this.#stopped) return;
    const ctx = v.context as WhatsAppSessionContext;
    this.#reconcile(v.id, v.status === 'failed' ? 'failed' : v.value, ctx);
    const l = this.#entry(v.id);
    for (const w of l.waiters) w();
    // Reading a view is asynchronous (a pairing QR is rendered): a slow read of an older state
    // (pairing) must not reach the web app after the view of a newer one (open).
    const n = ++l.pushed;
    void this.sessionView(v.id).then(
      (view) => {
        if (n === l.pushed) this.d.push.all('whatsapp:session', view);
      },
      (err: unknown) => this.d.log.warn({ err, session: v.id }, 'reading a WhatsApp session for the web app failed'),
    );
  }

  /** One socket per session and generation: a newer generation ends the older socket first. */
  #reconcile(session: string, value: unknown, ctx: WhatsAppSessionContext): void {
    const l = this.#entry(session);
    const want = wantsSocket(value) && !!this.d.driver && this.#owns(session);
    const generation = want ? ctx.generation : 0;
    if (l.generation === generation) return;
    l.generation = generation;
    l.chain = l.chain.then(async () => {
      const old = l.conn;
      l.conn = undefined;
      await old?.end().catch((err) => this.d.log.warn({ err, session }, 'ending a WhatsApp socket failed'));
      if (!want || l.generation !== generation || this.#stopped || !this.#owns(session)) return;
      try {
        const conn = await this.d.driver!.connect({
          session,
          emit: (event, payload) => this.#driverEvent(session, generation, event, payload),
          getMessage: async (key) => (key.id ? ((await sentContent(this.d.sql, session, key.id)) as never) : undefined),
        });
        if (l.generation !== generation || this.#stopped || !this.#owns(session)) await conn.end();
        else l.conn = conn;
      } catch (err) {
        this.d.log.warn({ err, session }, 'WhatsApp connect failed');
        if (l.generation === generation) this.#toActor(session, { type: 'conn.close', statusCode: null, message: (err as Error).message, at: now(), jitter: Math.random() });
      }
    });
  }

  #toActor(session: string, event: { type: string; [k: string]: unknown }): void {
    void this.d.system.send(WHATSAPP_SESSION, session, event).catch((err) => this.d.log.warn({ err, session, event: event.type }, 'WhatsApp session event refused'));
  }

  #driverEvent<E extends WhatsAppEventName>(session: string, generation: number, event: E, payload: WhatsAppEventMap[E]): void {
    const l = this.#live.get(session);
    // A socket of an older generation (or one being ended) is not listened to.
    if (!l || l.generation !== generation) return;
    switch (event) {
      case 'connection.update': {
        const u = payload as WhatsAppEventMap['connection.update'];
        if (u.qr) this.#toActor(session, { type: 'conn.qr', qr: u.qr, at: now() });
        if (u.connection === 'open') {
          for (const w of l.waiters) w();
          this.#toActor(session, { type: 'conn.open', me: l.conn?.me()?.id ?? null, at: now() });
        }
        if (u.connection === 'close') {
          const err = u.lastDisconnect?.error as { output?: { statusCode?: number }; data?: { tag?: string; attrs?: { type?: string } }; message?: string } | undefined;
          // The socket stays referenced until the state's reconcile ends it (end() is how a driver
          // drops its timers and its intentional-stop flag, even for a socket already closed).
          this.#toActor(session, {
            type: 'conn.close',
            statusCode: err?.output?.statusCode ?? null,
            conflictType: err?.data?.tag === 'conflict' ? (err.data.attrs?.type ?? null) : null,
            message: err?.message ?? null,
            at: now(),
            jitter: Math.random(),
          });
        }
        break;
      }
      case 'messages.upsert':
        this.inbound.upsert(session, payload as WhatsAppEventMap['messages.upsert']);
        break;
      case 'messages.update': {
        // In arrival order per session: a DELIVERY_ACK never overtakes its SERVER_ACK.
        const updates = payload as WhatsAppEventMap['messages.update'];
        l.receipts = l.receipts.then(() => this.#receipts(session, updates).catch((err) => this.d.log.error({ err, session }, 'WhatsApp receipts failed')));
        break;
      }
      case 'lid-mapping.update': {
        const m = payload as WhatsAppEventMap['lid-mapping.update'];
        void saveLidMapping(this.d.sql, m.lid, m.pn).catch((err) => this.d.log.warn({ err }, 'saving a LID mapping failed'));
        break;
      }
    }
  }

  // ---- outbound ----

  /** Records the send as pending (in the actor's commit) and returns at once; the effect sends it. */
  async send(s: { chatId: string; text: string | null; mediaId?: string | null; sentBy: string | null }): Promise<{ id: string; status: 'pending' }> {
    const chat = this.index.getSnapshot().context.chats.get(s.chatId) ?? (await chatById(this.d.sql, s.chatId));
    if (!chat) throw new WhatsAppError('not_found', 'Conversa não encontrada');
    // A customer who told Lívia to stop hears from no number of ours (LGPD opt-out).
    if (chat.phone && (await optedOut(this.d.sql, phoneVariants(chat.phone)))) {
      throw new WhatsAppError('conflict', 'O cliente pediu para não receber mensagens');
    }
    const id = randomUUID();
    await this.sendAs({ session: chat.session, chatId: chat.id, jid: chat.jid, messageId: id, waId: waMessageId(), text: s.text, mediaId: s.mediaId ?? null, sentBy: s.sentBy });
    return { id, status: 'pending' };
  }

  /**
   * A send under ids the caller chose (Lívia derives them from her reply's effect key, so a repeat
   * names the same message). Recorded pending in the session actor's commit, sent by its effect.
   */
  async sendAs(s: { session: string; chatId: string; jid: string; messageId: string; waId: string; text: string | null; mediaId?: string | null; sentBy: string | null }): Promise<void> {
    const { messageId: id, session } = s;
    const event: OutboundSend = { messageId: id, waId: s.waId, chatId: s.chatId, jid: s.jid, text: s.text, mediaId: s.mediaId ?? null, sentBy: s.sentBy, at: now() };
    await this.d.system.send(WHATSAPP_SESSION, session, { type: 'message.send', ...event });
    // Committed: the pending message is shown at once (receipts move it on).
    await this.#storedById(id).catch((err) => this.d.log.warn({ err }, 'pushing a pending message failed'));
  }

  async #recordPending(tx: TransactionSql, session: string, e: OutboundSend): Promise<void> {
    let kind = 'text';
    let content: unknown = { extendedTextMessage: { text: e.text ?? '' } };
    if (e.mediaId) {
      const m = await mediaKind(tx, e.mediaId);
      kind = m?.type === 'image' ? 'image' : 'document';
      content = { [kind === 'image' ? 'imageMessage' : 'documentMessage']: { mimetype: m?.mime, caption: e.text, fileName: m?.file_name } };
    }
    await insertMessage(tx, {
      id: e.messageId,
      chatId: e.chatId,
      session,
      waId: e.waId,
      direction: 'out',
      kind,
      text: e.text,
      status: 'pending',
      content,
      sentBy: e.sentBy ?? null,
      at: new Date(e.at),
    });
    if (e.mediaId) await attachMedia(tx, e.mediaId, e.messageId);
  }

  async #storedById(id: string): Promise<void> {
    const msg = await messageById(this.d.sql, id);
    if (!msg) return;
    const chat = await chatById(this.d.sql, msg.chat_id);
    if (chat) this.#stored(chat, msg);
  }

  /** The effect: waits for an open socket, takes a throttle slot, sends under our WhatsApp id. */
  async #sendEffect(p: OutboundSend & { session: string }, ctx: EffectContext): Promise<void> {
    const status = await messageStatus(this.d.sql, p.session, p.waId);
    if (status !== 'pending') return; // already sent (a repeat after a crash) or failed
    const conn = await this.#openConnection(p.session, ctx.signal);
    if (!conn) {
      const view = await this.d.system.inspect(WHATSAPP_SESSION, p.session);
      const status = view ? sessionStatus(view.value) : 'failed';
      if (status === 'loggedOut' || status === 'replaced' || status === 'failed' || view?.status === 'failed') {
        await this.#fail(p.session, p.waId, 'sessão do WhatsApp desconectada');
        return;
      }
      throw new Error(`session ${p.session} is not open`);
    }
    await this.#throttle.take(p.session, ctx.signal);
    let content: AnyMessageContent = { text: p.text ?? '' };
    if (p.mediaId) {
      const media = await mediaById(this.d.sql, p.mediaId);
      if (!media?.data) {
        await this.#fail(p.session, p.waId, 'arquivo indisponível');
        return;
      }
      content =
        media.type === 'image'
          ? { image: media.data, mimetype: media.mime, ...(p.text ? { caption: p.text } : {}) }
          : { document: media.data, mimetype: media.mime, fileName: media.file_name ?? 'arquivo', ...(p.text ? { caption: p.text } : {}) };
    }
    // Last check, synchronous, right before the message leaves: after a pause (SIGSTOP) the lease
    // may have lapsed while this run was waiting, and no timer has had a chance to notice yet.
    this.#fence(p.session);
    await conn.sendMessage(p.jid, content, { messageId: p.waId });
  }

  async #openConnection(session: string, signal: AbortSignal): Promise<WhatsAppConnection | undefined> {
    const l = this.#entry(session);
    const deadline = Date.now() + (this.d.sendWaitMs ?? 30_000);
    for (;;) {
      this.#fence(session);
      const view = this.d.system.peek(WHATSAPP_SESSION, session);
      if (l.conn && view && sessionStatus(view.value) === 'open') return l.conn;
      if (view && !wantsSocket(view.value) && sessionStatus(view.value) !== 'reconnecting') return undefined;
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          l.waiters.delete(done);
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 1000));
        l.waiters.add(done);
      });
    }
  }

  async #fail(session: string, waId: string, reason: string): Promise<void> {
    const row = await advanceStatus(this.d.sql, session, waId, 'failed', reason);
    if (row) await this.#statusChanged(row);
  }

  async #receipts(session: string, updates: WhatsAppEventMap['messages.update']): Promise<void> {
    for (const u of updates) {
      const code = u.update.status;
      if (code === undefined || code === null || !u.key.id || !u.key.fromMe) continue;
      const status = RECEIPT[code];
      if (!status) continue;
      const stub = (u.update.messageStubParameters as unknown[] | undefined)?.[0];
      // 463: the account is restricted; never retried (a retry is another "reach out").
      const failure = status === 'failed' ? (String(stub) === '463' ? 'conta restrita pelo WhatsApp (463)' : `erro ${stub ?? 'desconhecido'}`) : null;
      const row = await advanceStatus(this.d.sql, session, u.key.id, status, failure);
      if (row) await this.#statusChanged(row);
    }
  }

  async #statusChanged(row: MessageRow): Promise<void> {
    const chat = this.#chatEntry(row.chat_id) ?? (await chatById(this.d.sql, row.chat_id));
    if (!chat) return;
    this.index.trigger.status({ chatId: row.chat_id, status: row.status, at: row.at });
    this.d.push.chat(chat, 'whatsapp:message:status', { id: row.id, chat_id: row.chat_id, status: row.status, failure: row.failure });
  }

  // ---- the inbox ----

  #chatEntry(id: string): ChatEntry | undefined {
    return this.index.getSnapshot().context.chats.get(id);
  }

  chats(user: { id: string; role: string }, session?: string): ChatEntry[] {
    return visibleChats(this.index, user, session);
  }

  /** The chat if this user may see it (checked against the database, not the index). */
  async chatFor(user: { id: string; role: string }, chatId: string): Promise<ChatSummary> {
    const chat = await chatById(this.d.sql, chatId);
    if (!chat || !maySee(user, chat)) throw new WhatsAppError('not_found', 'Conversa não encontrada');
    return chat;
  }

  async messages(user: { id: string; role: string }, chatId: string, page: { before?: string | undefined; limit: number }): Promise<MessageView[]> {
    await this.chatFor(user, chatId);
    return (await listMessages(this.d.sql, chatId, page)).map(messageView);
  }

  /** Marks the chat read and sends read receipts for what the customer sent. */
  async markRead(user: { id: string; role: string }, chatId: string): Promise<{ read: number }> {
    const chat = await this.chatFor(user, chatId);
    const rows = await markChatRead(this.d.sql, chatId);
    this.index.trigger.read({ chatId });
    if (rows.length === 0) return { read: 0 };
    const receipts: ReadReceipts = { session: chat.session, jid: chat.jid, ids: rows.map((r) => r.wa_id) };
    if (!this.d.remote || this.#owns(chat.session)) await this.#readReceiptsHere(receipts);
    else {
      // Sent by the owner's socket. Durable: the chat is read already, and a late receipt is still
      // right, so when the owner is slow to answer the job stays queued for it.
      await this.d.remote.call(chat.session, 'whatsapp.readReceipts', receipts, { durable: true, timeoutMs: 2000 }).catch((err: Error) => {
        if (err.name !== 'OwnerUnavailableError') throw err;
        this.d.log.warn({ err: err.message, session: chat.session }, 'read receipts queued for the session owner');
      });
    }
    return { read: rows.length };
  }

  async #readReceiptsHere(r: ReadReceipts): Promise<void> {
    const conn = this.#owns(r.session) ? this.#live.get(r.session)?.conn : undefined;
    if (!conn) return;
    await conn.readMessages(r.ids.map((id) => ({ remoteJid: r.jid, id, fromMe: false }))).catch((err) => this.d.log.warn({ err }, 'read receipts failed'));
  }

  /** Typing presence for the agent: `composing`, then `paused`. */
  async typing(session: string, jid: string, on: boolean): Promise<void> {
    if (!this.#owns(session)) return;
    await this.#live.get(session)?.conn?.sendPresenceUpdate(on ? 'composing' : 'paused', jid);
  }

  /** Stores an upload (before the send that carries it). */
  async upload(user: { id: string; role: string }, chatId: string, file: { type: 'image' | 'document'; mime: string; name: string; data: Buffer }): Promise<string> {
    await this.chatFor(user, chatId);
    if (file.data.length > this.d.mediaMaxBytes) throw new WhatsAppError('conflict', 'Arquivo maior que o limite');
    return insertMedia(this.d.sql, { messageId: null, type: file.type, mime: file.mime, fileName: file.name, size: file.data.length, status: 'stored', data: file.data });
  }

  async media(user: { id: string; role: string }, mediaId: string): Promise<{ mime: string; data: Buffer; fileName: string | null }> {
    const m = await mediaById(this.d.sql, mediaId);
    if (!m || !m.chat_id) throw new WhatsAppError('not_found', 'Mídia não encontrada');
    await this.chatFor(user, m.chat_id);
    if (m.status !== 'stored' || !m.data) throw new WhatsAppError('not_found', m.status === 'too_large' ? 'Mídia acima do limite; não foi baixada' : 'Mídia indisponível');
    return { mime: m.mime, data: m.data, fileName: m.file_name };
  }

  /** A lead changed (assigned, reassigned): who may see its chats changes with it. */
  leadChanged(lead: { id: string; consultant_id: string | null }): void {
    this.index.trigger.lead({ leadId: lead.id, consultantId: lead.consultant_id });
  }

  #stored(chat: ChatSummary | ChatEntry, msg: MessageRow | MessageWithMedia): void {
    if (!this.#chatEntry(chat.id) && 'created_at' in chat) this.index.trigger.chat({ chat });
    this.index.trigger.message({ chatId: chat.id, text: msg.text, kind: msg.kind, direction: msg.direction, status: msg.status, at: msg.at, unread: msg.direction === 'in' });
    this.#pushMessage(this.#chatEntry(chat.id) ?? chat, msg);
  }

  #pushMessage(chat: { consultant_id: string | null }, msg: MessageRow | MessageWithMedia): void {
    this.d.push.chat(chat, 'whatsapp:message', messageView(msg as MessageWithMedia));
  }

  async #qrUrl(session: string, raw: string): Promise<string> {
    const cached = this.#qr.get(session);
    if (cached?.raw === raw) return cached.url;
    const url = await toDataURL(raw, { margin: 1, width: 264 });
    this.#qr.set(session, { raw, url });
    return url;
  }
}

export function messageView(m: MessageWithMedia): MessageView {
  const v: MessageView = {
    id: m.id,
    chat_id: m.chat_id,
    direction: m.direction,
    kind: m.kind,
    text: m.deleted_at ? null : m.text,
    status: m.status,
    failure: m.failure,
    at: m.at.toISOString(),
    quoted: m.quoted_wa_id ? { id: m.quoted_wa_id, text: m.quoted_text } : null,
    edited: !!m.edited_at,
    deleted: !!m.deleted_at,
  };
  if (m.media_id) {
    v.media = {
      id: m.media_id,
      type: m.media_type ?? 'document',
      mime: m.media_mime ?? 'application/octet-stream',
      size: m.media_size === null || m.media_size === undefined ? null : Number(m.media_size),
      status: m.media_status ?? 'failed',
      file_name: m.media_file_name ?? null,
      url: `/api/whatsapp/media/${m.media_id}`,
    };
  }
  return v;
}

const now = () => new Date().toISOString();
