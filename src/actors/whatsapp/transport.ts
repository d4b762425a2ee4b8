/**
 * The transport interface every WhatsApp driver implements (`baileys`, `simulator`), chosen by
 * `WHATSAPP_DRIVER`. Pure types: nothing here loads Baileys at run time.
 *
 * A driver only maps its socket to Baileys-shaped events and offers the socket's operations. Every
 * decision (which disconnect reason reconnects, backs off, waits for pairing or is fatal) is taken by
 * the pure WhatsApp-session machine, so both drivers share it; normalization, storage, routing and
 * receipts are the same code for both.
 *
 * Lifecycle, owned by the session actor's start/stop hooks:
 * - `driver.connect({session, emit, getMessage, …})` opens ONE socket for that session. The session
 *   actor never holds two: it calls `end()` on the previous connection before asking for another.
 * - The driver reports through `emit` only: `connection.update` (a `qr`, `connection: 'open'`, or
 *   `connection: 'close'` with `lastDisconnect.error` a Boom whose `output.statusCode` is the
 *   DisconnectReason and, for a 440, `data` the stream error node `{tag: 'conflict', attrs: {type}}`),
 *   `messages.upsert` (`notify` AND `append`), `messages.update` (receipts: `update.status` is a
 *   `proto.WebMessageInfo.Status`; ERROR carries the code in `update.messageStubParameters[0]`, e.g.
 *   '463'), `lid-mapping.update`.
 * - A stall seen by a driver's watchdog is reported as a close with statusCode 408 and
 *   `data: {reason: 'watchdog'}`; the machine reconnects it like any 408.
 * - After `end()` or `logout()` resolves, the connection emits nothing more (the driver keeps the
 *   intentional-stop flag: Baileys' own `end()` closes without a status code).
 * - Credentials: a 401, or a 440 `device_removed`, makes the session call `driver.clearCredentials`.
 *
 * Where drivers live: `src/actors/whatsapp/simulator-driver.ts` and `src/actors/whatsapp/baileys-driver.ts`,
 * each exporting `createDriver: WhatsAppDriverFactory`. The composition loads the one `WHATSAPP_DRIVER`
 * names with a dynamic import; a missing module leaves every session `failed` ("driver not available").
 *
 * @example
 * const conn = await driver.connect({ session: 'consultant', emit: (e, p) => actor.send(...), getMessage });
 * await conn.sendMessage('5511999990000@s.whatsapp.net', { text: 'Olá' }, { messageId: ourId });
 */
import type {
  AnyMessageContent,
  BaileysEventMap,
  LIDMapping,
  WAMessage,
  WAMessageKey,
  WAPresence,
  proto,
} from '@whiskeysockets/baileys';
import type { Config } from '../../config.ts';
import type { Sql } from '../../db/client.ts';
import type { Logger } from '../../log.ts';

export type { AnyMessageContent, LIDMapping, WAMessage, WAMessageKey, WAPresence };

/** The events a driver reports, exactly as Baileys' `sock.ev` names and shapes them. */
export type WhatsAppEventMap = Pick<
  BaileysEventMap,
  'connection.update' | 'messages.upsert' | 'messages.update' | 'lid-mapping.update'
>;
export type WhatsAppEventName = keyof WhatsAppEventMap;

/** How a driver reports: called synchronously from the socket's event handlers, in order. */
export type WhatsAppEmit = <E extends WhatsAppEventName>(event: E, payload: WhatsAppEventMap[E]) => void;

/**
 * Baileys' `getMessage`: the content of a message we sent, for a recipient's retry request. Backed by our
 * message table; undefined when we do not have it.
 */
export type GetMessage = (key: WAMessageKey) => Promise<proto.IMessage | undefined>;

export interface WhatsAppConnectOptions {
  /** The session name ('consultant', 'livia', …): the driver's key for its credentials and sockets. */
  session: string;
  emit: WhatsAppEmit;
  getMessage: GetMessage;
}

/** Outcome of a media download: the bytes, or why there are none (past the cap, expired, gone). */
export type MediaDownload =
  | { ok: true; data: Buffer; mime?: string | undefined }
  | { ok: false; reason: 'too_large' | 'expired' | 'unavailable'; detail?: string | undefined };

/** Our own account on this connection, once open. */
export interface WhatsAppMe {
  /** The phone JID, e.g. '5511999990000:12@s.whatsapp.net'. */
  id: string;
  lid?: string | undefined;
  name?: string | undefined;
}

export interface WhatsAppConnection {
  /**
   * Sends and resolves when written to the socket (not when the server has it: that is the SERVER_ACK
   * receipt). `messageId` is OUR id, so a retry after a crash is the same WhatsApp message.
   */
  sendMessage(jid: string, content: AnyMessageContent, options: { messageId: string }): Promise<WAMessage | undefined>;
  sendPresenceUpdate(presence: WAPresence, jid?: string): Promise<void>;
  /** Sends read receipts for these inbound messages. */
  readMessages(keys: WAMessageKey[]): Promise<void>;
  /** Only while unregistered and after the handshake; digits with the country code. Returns the code. */
  requestPairingCode(phoneDigits: string): Promise<string>;
  /** The downloaded media of a message (re-upload on expiry is the driver's), at most `maxBytes`. */
  downloadMedia(msg: WAMessage, options: { maxBytes: number }): Promise<MediaDownload>;
  /** The phone JID of a LID, when the driver knows it (Baileys: signalRepository.lidMapping.getPNForLID). */
  getPNForLID(lid: string): Promise<string | undefined>;
  me(): WhatsAppMe | undefined;
  /** Logs the device out at WhatsApp and removes the credentials; emits nothing afterwards. */
  logout(): Promise<void>;
  /** Closes the socket on purpose, keeping the credentials; emits nothing afterwards. */
  end(): Promise<void>;
}

export interface WhatsAppDriver {
  readonly name: string;
  /** Opens a socket for that session (async: the credentials load first). */
  connect(options: WhatsAppConnectOptions): Promise<WhatsAppConnection>;
  /** Wipes that session's credentials (after a 401 or a 440 device_removed), so it pairs again. */
  clearCredentials(session: string): Promise<void>;
}

/** What a driver is built from at the composition root. */
export interface WhatsAppDriverDeps {
  config: Config;
  sql: Sql;
  log: Logger;
}

export type WhatsAppDriverFactory = (deps: WhatsAppDriverDeps) => WhatsAppDriver;
