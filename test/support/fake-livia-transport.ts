/**
 * An in-memory transport for Lívia's number, for tests that run the conversation actor on a bare
 * ActorSystem (machine, runtime, follow-up and fault tests), without a server. Tests of the whole
 * server use the real path: the WhatsApp simulator (test/livia-server*.test.ts). It keeps what was
 * sent, in order, and honours the idempotency key like the real transport (a second send with the
 * same key sends nothing).
 */
import type { ConversationTransport } from '../../src/actors/conversation.ts';

export interface SentMessage {
  phone: string;
  text: string;
  role: 'livia' | 'consultant';
  n: number;
  key: string;
}

export class FakeLiviaTransport implements ConversationTransport {
  readonly sent: SentMessage[] = [];
  readonly calls: SentMessage[] = [];
  readonly typed: { phone: string; ms: number }[] = [];
  readonly #keys = new Set<string>();

  async send(m: SentMessage): Promise<void> {
    this.calls.push(m);
    if (this.#keys.has(m.key)) return;
    this.#keys.add(m.key);
    this.sent.push(m);
  }

  async typing(phone: string, ms: number): Promise<void> {
    this.typed.push({ phone, ms });
  }

  to(phone: string): SentMessage[] {
    return this.sent.filter((m) => m.phone === phone);
  }
}
