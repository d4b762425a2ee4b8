/**
 * A stand-in for Baileys 7's socket (WhatsApp itself cannot be reached from here): the same event
 * names and shapes (`connection.update` with a Boom in `lastDisconnect.error`, `messages.upsert`,
 * `messages.update`, `lid-mapping.update`, `creds.update`, `ws` 'frame'), and `end()` behaving like
 * Baileys' own: the first call emits one close (without a status code when given no error) and
 * then the emitter is torn down.
 *
 * @example
 * const sockets = fakeSocketFactory();
 * const driver = createBaileysDriver({ log, authStore, makeSocket: sockets.make });
 * sockets.last().qr('2@abc'); sockets.last().open(); sockets.last().closeWith(515);
 */
import { EventEmitter } from 'node:events';
import type { UserFacingSocketConfig } from '@whiskeysockets/baileys';
import type { BaileysSocket } from '../../src/actors/whatsapp/baileys-driver.ts';

export function boom(statusCode: number, message = 'Stream Errored', data?: unknown): Error {
  return Object.assign(new Error(message), { isBoom: true, output: { statusCode, payload: {}, headers: {} }, data });
}

export class FakeSocket {
  readonly ev = new EventEmitter();
  readonly ws: EventEmitter & { socket: { terminate: () => void } };
  user: { id: string; lid?: string; name?: string } | undefined;
  closed = false;
  terminated = false;
  loggedOut = false;
  /** Every end() call, with the error given. */
  readonly ends: (Error | undefined)[] = [];
  readonly queries: unknown[] = [];
  readonly sent: { jid: string; content: unknown; options: unknown }[] = [];
  readonly pairingRequests: string[] = [];
  /** 'answer': pings get a result; 'hang': they time out. */
  ping: 'answer' | 'hang' = 'answer';
  /** When false, end() never emits its close (a socket whose close got lost). */
  emitsClose = true;
  lids = new Map<string, string>();

  constructor(readonly config: UserFacingSocketConfig) {
    const ws = new EventEmitter() as EventEmitter & { socket: { terminate: () => void } };
    ws.socket = { terminate: () => (this.terminated = true) };
    this.ws = ws;
  }

  // --- what the server does -------------------------------------------------------------------
  qr(text: string): void {
    this.ev.emit('connection.update', { qr: text });
  }
  open(user = { id: '5511999990000:12@s.whatsapp.net', lid: '123456789012345:12@lid', name: 'Equipe' }): void {
    this.user = user;
    this.ev.emit('connection.update', { connection: 'open' });
  }
  /** A close the way Baileys reports a server's stream error or failure. */
  closeWith(statusCode: number, data?: unknown, message?: string): void {
    void this.end(boom(statusCode, message, data));
  }
  frame(): void {
    this.ws.emit('frame', { tag: 'ib', attrs: {} });
  }
  emit(event: string, payload: unknown): void {
    this.ev.emit(event, payload);
  }

  // --- what Baileys' socket offers ------------------------------------------------------------
  async end(error: Error | undefined): Promise<void> {
    this.ends.push(error);
    if (this.closed) return;
    this.closed = true;
    if (this.emitsClose) this.ev.emit('connection.update', { connection: 'close', lastDisconnect: { error, date: new Date() } });
    this.ev.removeAllListeners();
  }
  async logout(): Promise<void> {
    this.loggedOut = true;
    await this.end(boom(401, 'Intentional Logout'));
  }
  async query(node: unknown, timeoutMs?: number): Promise<unknown> {
    this.queries.push(node);
    if (this.ping === 'answer') return { tag: 'iq', attrs: { type: 'result' } };
    return new Promise((_, reject) => setTimeout(() => reject(boom(408, 'Timed Out')), timeoutMs ?? 1000));
  }
  async sendMessage(jid: string, content: unknown, options: { messageId?: string }) {
    this.sent.push({ jid, content, options });
    return { key: { remoteJid: jid, fromMe: true, id: options.messageId }, message: {} };
  }
  async sendPresenceUpdate(): Promise<void> {}
  async readMessages(): Promise<void> {}
  async requestPairingCode(digits: string): Promise<string> {
    this.pairingRequests.push(digits);
    return 'ABCD1234';
  }
  updateMediaMessage = async (m: unknown) => m;
  get signalRepository() {
    return { lidMapping: { getPNForLID: async (lid: string) => this.lids.get(lid) ?? null } };
  }
}

/** A socket factory that records every socket it makes, and how many are alive at once. */
export function fakeSocketFactory() {
  const sockets: FakeSocket[] = [];
  let maxAlive = 0;
  return {
    sockets,
    make: (config: UserFacingSocketConfig): BaileysSocket => {
      const s = new FakeSocket(config);
      sockets.push(s);
      maxAlive = Math.max(maxAlive, sockets.filter((x) => !x.closed).length);
      return s as unknown as BaileysSocket;
    },
    last: (): FakeSocket => {
      const s = sockets.at(-1);
      if (!s) throw new Error('no socket was made');
      return s;
    },
    alive: () => sockets.filter((s) => !s.closed).length,
    maxAlive: () => maxAlive,
  };
}
