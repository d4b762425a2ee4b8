/**
 * The Baileys 7 driver (`WHATSAPP_DRIVER=baileys`): one real WhatsApp Web socket per session,
 * mapped onto the transport interface (`transport.ts`). The session machine decides what a close
 * means (`classifyDisconnect`); this module keeps the socket honest:
 *
 * - one socket per session at any moment: `connect()` is single-flight per session and ends the
 *   previous socket (and waits for its close) before it makes the next one;
 * - an intentional stop (`end()`, `logout()`, a newer `connect()`) is flagged, because Baileys'
 *   `sock.end()` closes without a status code; after it the connection emits nothing;
 * - a watchdog: Baileys' keepalive ends a socket only when no frame at all arrives, and it merely
 *   logs a ping that goes unanswered, so a socket can stay "open" (frames trickling in) and stop
 *   receiving messages. Whenever `stallMs` pass without a message (upsert or receipt) and without a
 *   ping answered, the driver sends its own ping query with a timeout; if it fails the socket is
 *   torn down and reported as a close 408 `{reason: 'watchdog'}`, which the machine reconnects like
 *   any 408. A socket with no frame at all is left to Baileys' own keepalive (a 408 too);
 * - a realistic browser (`Browsers.macOS('Chrome')`) and a configurable WhatsApp Web version
 *   (`WHATSAPP_WA_VERSION`: `latest` fetches it once with the bundled one as fallback and again
 *   after a 405; `bundled`; or `2.3000.1234567890`);
 * - pairing codes only while unregistered and after the handshake (the first QR);
 * - `getMessage` from the session (our message table), LID mappings forwarded, media downloaded
 *   with re-upload on expiry and a size cap.
 *
 * The socket factory is injectable (`makeSocket`), so tests drive the driver with a fake socket.
 *
 * @example
 * const driver = createBaileysDriver({ log, authStore: (s) => createFileAuthStore({ dir, session: s }) });
 * const conn = await driver.connect({ session: 'consultant', emit, getMessage });
 */
import { Transform } from 'node:stream';
import makeWASocket, {
  Browsers,
  downloadMediaMessage,
  fetchLatestWaWebVersion,
  getContentType,
  normalizeMessageContent,
  S_WHATSAPP_NET,
  type UserFacingSocketConfig,
  type WASocket,
  type WAVersion,
} from '@whiskeysockets/baileys';
import { classifyDisconnect } from '../../domain/whatsapp-disconnect.ts';
import type { Logger } from '../../log.ts';
import { isPaired, type WhatsAppAuthStore } from './auth-state.ts';
import { createAuthStore } from './auth-store.ts';
import type {
  MediaDownload,
  WhatsAppConnection,
  WhatsAppConnectOptions,
  WhatsAppDriver,
  WhatsAppDriverFactory,
  WhatsAppEventMap,
  WhatsAppEventName,
  WhatsAppMe,
  WAMessage,
} from './transport.ts';

/** The part of Baileys' socket the driver uses (what a fake must provide). */
export type BaileysSocket = Pick<
  WASocket,
  | 'ev'
  | 'ws'
  | 'end'
  | 'logout'
  | 'query'
  | 'sendMessage'
  | 'sendPresenceUpdate'
  | 'readMessages'
  | 'requestPairingCode'
  | 'updateMediaMessage'
  | 'signalRepository'
  | 'user'
>;

export type SocketFactory = (config: UserFacingSocketConfig) => BaileysSocket;
export type MediaDownloader = typeof downloadMediaMessage;

/** `WHATSAPP_WA_VERSION`: `latest`, `bundled`, or an explicit version. */
export type WaVersionSetting = 'latest' | 'bundled' | WAVersion;

export interface WatchdogOptions {
  /** Time without a message (upsert, receipt) or an answered ping after which the socket is pinged. */
  stallMs: number;
  /** How long the ping may take before the socket counts as stalled. */
  pingTimeoutMs: number;
  /** How often silence is checked. */
  checkEveryMs: number;
}

export const DEFAULT_WATCHDOG: WatchdogOptions = { stallMs: 90_000, pingTimeoutMs: 20_000, checkEveryMs: 15_000 };

export interface BaileysDriverOptions {
  log: Logger;
  /** The auth store of a session (file or postgres). */
  authStore: (session: string) => WhatsAppAuthStore;
  waVersion?: WaVersionSetting;
  makeSocket?: SocketFactory;
  fetchLatestVersion?: () => Promise<{ version: WAVersion; isLatest: boolean }>;
  download?: MediaDownloader;
  watchdog?: Partial<WatchdogOptions>;
  /** How long an intentional end waits for Baileys' close before the WebSocket is terminated. */
  endTimeoutMs?: number;
  /** Extra socket settings, applied last (tests point `waWebSocketUrl` at a local server). */
  socketConfig?: Partial<UserFacingSocketConfig>;
}

/** A pairing code cannot be asked for now; `reason` says why. */
export class PairingCodeRefusedError extends Error {
  override name = 'PairingCodeRefusedError';
  constructor(
    readonly reason: 'registered' | 'not_ready' | 'invalid_phone' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

/** A send or query on a connection that is already closed. */
export class ConnectionClosedError extends Error {
  override name = 'ConnectionClosedError';
}

/** Boom-shaped, as Baileys' own closes are: `output.statusCode` and `data`. */
function closeError(statusCode: number, message: string, data: unknown): Error {
  return Object.assign(new Error(message), {
    isBoom: true,
    output: { statusCode, payload: { statusCode, error: message, message }, headers: {} },
    data,
  });
}

/** Baileys' own level is kept at warn: its info lines are per frame and per key. */
function baileysLogger(log: Logger, session: string): Logger {
  const quiet = ['warn', 'error', 'fatal', 'silent'].includes(log.level) ? log.level : 'warn';
  return log.child({ whatsapp: session, lib: 'baileys' }, { level: quiet });
}

export function createBaileysDriver(opts: BaileysDriverOptions): WhatsAppDriver {
  const makeSocket = opts.makeSocket ?? (makeWASocket as unknown as SocketFactory);
  const fetchLatest = opts.fetchLatestVersion ?? (() => fetchLatestWaWebVersion({ signal: AbortSignal.timeout(5000) }));
  const download = opts.download ?? downloadMediaMessage;
  const watchdog = { ...DEFAULT_WATCHDOG, ...opts.watchdog };
  const endTimeoutMs = opts.endTimeoutMs ?? 3000;
  const setting = opts.waVersion ?? 'latest';
  const stores = new Map<string, WhatsAppAuthStore>();
  const current = new Map<string, Conn>();
  const locks = new Map<string, Promise<unknown>>();
  let latest: Promise<WAVersion | undefined> | undefined;

  const storeOf = (session: string) => {
    let s = stores.get(session);
    if (!s) stores.set(session, (s = opts.authStore(session)));
    return s;
  };

  /** One connect (or wipe) of a session at a time, in call order. */
  const exclusive = <T>(session: string, op: () => Promise<T>): Promise<T> => {
    const prev = locks.get(session) ?? Promise.resolve();
    const run = prev.then(op, op);
    locks.set(session, run.catch(() => {}));
    return run;
  };

  async function version(): Promise<WAVersion | undefined> {
    if (setting === 'bundled') return undefined; // Baileys' own default
    if (setting !== 'latest') return setting;
    latest ??= fetchLatest().then(
      (r) => {
        if (!r.isLatest) opts.log.warn({ version: r.version }, 'whatsapp: latest WA Web version unknown, using the bundled one');
        return r.version;
      },
      () => undefined,
    );
    return latest;
  }

  interface Conn extends WhatsAppConnection {
    /** Resolves once the socket has closed (whatever the reason). */
    closed: Promise<void>;
  }

  async function open(options: WhatsAppConnectOptions): Promise<Conn> {
    const { session, emit, getMessage } = options;
    const log = opts.log.child({ whatsapp: session });
    const store = storeOf(session);
    const auth = await store.open(baileysLogger(opts.log, session));
    const sock = makeSocket({
      auth: auth.state,
      browser: Browsers.macOS('Chrome'),
      ...(await version().then((v) => (v ? { version: v } : {}))),
      logger: baileysLogger(opts.log, session),
      getMessage,
      markOnlineOnConnect: false,
      syncFullHistory: false,
      ...opts.socketConfig,
    });

    let stopping = false; // an end we asked for: its close is not reported
    let isClosed = false;
    let isOpen = false;
    let handshake = false; // a QR came: the handshake is done and the device is unregistered
    let lastProof = Date.now(); // the last time the socket proved it delivers: a message, a receipt, a ping answer
    let lastFrame = Date.now();
    let pinging = false;
    let timer: NodeJS.Timeout | undefined;
    let markClosed!: () => void;
    const closed = new Promise<void>((r) => (markClosed = r));

    const forward = <E extends WhatsAppEventName>(event: E, payload: WhatsAppEventMap[E]) => {
      if (stopping || isClosed) return;
      try {
        emit(event, payload);
      } catch (err) {
        log.error({ err, event }, 'whatsapp: event handler failed');
      }
    };
    const touch = () => (lastProof = Date.now());

    sock.ev.on('creds.update', () => {
      auth.saveCreds().catch((err: unknown) => log.error({ err }, 'whatsapp: saving credentials failed'));
    });
    sock.ws.on('frame', () => (lastFrame = Date.now()));
    sock.ev.on('connection.update', (update) => {
      if (update.qr) handshake = true;
      if (update.connection === 'open') {
        isOpen = true;
        startWatchdog();
      }
      if (update.connection === 'close') {
        isOpen = false;
        clearInterval(timer);
        const c = classifyDisconnect(update);
        if (c.action === 'staleVersion') latest = undefined; // fetch it again before the next socket
        log.info({ statusCode: c.statusCode, conflictType: c.conflictType, action: c.action, intentional: stopping }, 'whatsapp: socket closed');
        forward('connection.update', update);
        isClosed = true;
        markClosed();
        return;
      }
      forward('connection.update', update);
    });
    sock.ev.on('messages.upsert', (upsert) => {
      touch();
      forward('messages.upsert', upsert);
    });
    sock.ev.on('messages.update', (updates) => {
      touch();
      forward('messages.update', updates);
    });
    sock.ev.on('lid-mapping.update', (mapping) => forward('lid-mapping.update', mapping));

    function startWatchdog() {
      clearInterval(timer);
      touch();
      timer = setInterval(() => void check(), watchdog.checkEveryMs);
      timer.unref();
    }

    async function check() {
      if (!isOpen || pinging || stopping || isClosed) return;
      if (Date.now() - lastProof < watchdog.stallMs) return;
      pinging = true;
      try {
        await sock.query(
          { tag: 'iq', attrs: { to: S_WHATSAPP_NET, type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] },
          watchdog.pingTimeoutMs,
        );
        touch();
      } catch (err) {
        if (!isOpen || stopping || isClosed) return;
        log.warn(
          { err, sinceProofMs: Date.now() - lastProof, sinceFrameMs: Date.now() - lastFrame },
          'whatsapp: socket stalled (no messages, ping unanswered), recreating it',
        );
        await teardown(closeError(408, 'watchdog: no frames and no answer to a ping', { reason: 'watchdog' }));
      } finally {
        pinging = false;
      }
    }

    /**
     * Ends the socket and waits for its close. A stalled TCP connection can keep `ws.close()` waiting
     * for 30 s, so past `endTimeoutMs` the WebSocket is terminated.
     */
    async function teardown(error: Error | undefined) {
      clearInterval(timer);
      if (isClosed) return;
      const ending = sock.end(error).catch((err: unknown) => log.warn({ err }, 'whatsapp: sock.end failed'));
      const late = setTimeout(() => terminate(sock), endTimeoutMs);
      await Promise.race([ending, closed]);
      await Promise.race([closed, new Promise((r) => setTimeout(r, endTimeoutMs).unref())]);
      clearTimeout(late);
      if (!isClosed) {
        // Baileys never reported the close (its emitter was already torn down): count it closed.
        isClosed = true;
        markClosed();
      }
    }

    const live = () => {
      if (isClosed || stopping) throw new ConnectionClosedError(`whatsapp session ${session}: connection closed`);
    };

    const conn: Conn = {
      closed,
      async sendMessage(jid, content, { messageId }) {
        live();
        return sock.sendMessage(jid, content, { messageId });
      },
      async sendPresenceUpdate(presence, jid) {
        live();
        await sock.sendPresenceUpdate(presence, jid);
      },
      async readMessages(keys) {
        live();
        await sock.readMessages(keys);
      },
      async requestPairingCode(phoneDigits) {
        if (isClosed || stopping) throw new PairingCodeRefusedError('closed', 'the connection is closed');
        const digits = phoneDigits.replace(/\D/g, '');
        if (!/^\d{8,15}$/.test(digits)) {
          throw new PairingCodeRefusedError('invalid_phone', 'the phone must be 8 to 15 digits with the country code');
        }
        if (isPaired(auth.state.creds)) throw new PairingCodeRefusedError('registered', 'this session is already paired');
        if (!handshake) throw new PairingCodeRefusedError('not_ready', 'the connection is not waiting for pairing yet');
        return sock.requestPairingCode(digits);
      },
      async downloadMedia(msg, { maxBytes }) {
        return downloadCapped(msg, maxBytes);
      },
      async getPNForLID(lid) {
        const pn = await sock.signalRepository.lidMapping.getPNForLID(lid);
        return pn ?? undefined;
      },
      me(): WhatsAppMe | undefined {
        const u = sock.user;
        return u?.id ? { id: u.id, lid: u.lid ?? undefined, name: u.name ?? u.notify ?? undefined } : undefined;
      },
      async logout() {
        if (stopping || isClosed) {
          await store.clear();
          return;
        }
        stopping = true;
        try {
          await Promise.race([sock.logout(), new Promise((r) => setTimeout(r, endTimeoutMs).unref())]);
        } catch (err) {
          log.warn({ err }, 'whatsapp: logout at WhatsApp failed; credentials are removed anyway');
        }
        await teardown(undefined);
        await store.clear();
      },
      async end() {
        if (stopping || isClosed) return closed;
        stopping = true;
        await teardown(undefined);
      },
    };

    async function downloadCapped(msg: WAMessage, maxBytes: number): Promise<MediaDownload> {
      const content = normalizeMessageContent(msg.message);
      const type = content ? getContentType(content) : undefined;
      const media = type && content ? (content[type] as { fileLength?: unknown; mimetype?: string | null } | undefined) : undefined;
      if (!media || typeof media !== 'object') return { ok: false, reason: 'unavailable', detail: 'not a media message' };
      const declared = Number(media.fileLength ?? 0);
      if (declared > maxBytes) return { ok: false, reason: 'too_large', detail: `${declared} bytes` };
      const mime = media.mimetype ?? undefined;
      try {
        const stream = await download(msg, 'stream', {}, { logger: baileysLogger(opts.log, session), reuploadRequest: sock.updateMediaMessage });
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of stream as Transform) {
          size += (chunk as Buffer).length;
          if (size > maxBytes) {
            (stream as Transform).destroy();
            return { ok: false, reason: 'too_large', detail: `more than ${maxBytes} bytes` };
          }
          chunks.push(chunk as Buffer);
        }
        return { ok: true, data: Buffer.concat(chunks), mime };
      } catch (err) {
        const status = (err as { status?: number; output?: { statusCode?: number } }).status ?? (err as { output?: { statusCode?: number } }).output?.statusCode;
        // Still 404/410 after Baileys asked the phone to upload it again: the media is gone.
        if (status === 404 || status === 410) return { ok: false, reason: 'expired', detail: (err as Error).message };
        return { ok: false, reason: 'unavailable', detail: (err as Error).message };
      }
    }

    return conn;
  }

  return {
    name: 'baileys',
    connect(options) {
      return exclusive(options.session, async () => {
        const previous = current.get(options.session);
        if (previous) await previous.end();
        const conn = await open(options);
        current.set(options.session, conn);
        void conn.closed.then(() => {
          if (current.get(options.session) === conn) current.delete(options.session);
        });
        return conn;
      });
    },
    clearCredentials(session) {
      return exclusive(session, async () => {
        const live = current.get(session);
        if (live) await live.end();
        await storeOf(session).clear();
      });
    },
  };
}

/** Destroys the underlying WebSocket at once (what a stalled `ws.close()` would do after 30 s). */
function terminate(sock: BaileysSocket): void {
  const raw = (sock.ws as unknown as { socket?: { terminate?: () => void } | null }).socket;
  try {
    raw?.terminate?.();
  } catch {
    // already gone
  }
}

/** The driver the composition builds for `WHATSAPP_DRIVER=baileys`. */
export const createDriver: WhatsAppDriverFactory = ({ config, sql, log }) =>
  createBaileysDriver({
    log,
    waVersion: config.whatsappWaVersion,
    ...(config.whatsappWsUrl ? { socketConfig: { waWebSocketUrl: config.whatsappWsUrl } } : {}),
    authStore: (session) => createAuthStore({ kind: config.whatsappAuthStore, dir: config.whatsappSessionsDir, sql, session }),
  });
