/**
 * LGPD rights over one customer phone, for admins: an export of everything held about it, and its
 * erasure (src/db/customer-data.ts says what each touches). The erasure goes through the actor
 * system, so the conversation actor leaves memory before its rows go and a later message from that
 * phone starts a new conversation. The conversations it touched are announced afterwards
 * (`conversationChanged`: their `conversation:updated`, now without data).
 *
 * @example
 * const svc = new CustomerDataService({ sql, system });
 * const data = await svc.export('+5511987654321');
 * await svc.erase('+5511987654321', admin.id);
 */
import { CONVERSATION } from '../actors/conversation.ts';
import type { Sql } from '../db/client.ts';
import { customerExport, eraseCustomer, type CustomerKeys } from '../db/customer-data.ts';
import { conversationIdsByPhones } from '../db/conversations.ts';
import { canonicalPhone, jidFromPhone, phoneVariants } from '../domain/whatsapp/jid.ts';
import { ServiceError } from './errors.ts';

export class CustomerDataService {
  constructor(
    private readonly d: {
      sql: Sql;
      system: { forget<T>(type: string, id: string, erase: () => Promise<T>): Promise<T> };
      /** After an erasure: in-memory views of the erased rows (the WhatsApp chat index) are rebuilt. */
      erased?: () => Promise<void>;
      /** After an erasure: each conversation it anonymized (by id), for its `conversation:updated`. */
      conversationChanged?: (id: string) => void;
    },
  ) {}

  #keys(phone: string): CustomerKeys & { e164: string } {
    const e164 = canonicalPhone(phone);
    if (!e164) throw new ServiceError('invalid', 'validation_failed', 'The request is not valid', [{ path: 'phone', message: 'not a phone number' }]);
    const phones = phoneVariants(e164);
    return { e164, phones, jids: phones.map(jidFromPhone) };
  }

  async export(phone: string): Promise<Record<string, unknown>> {
    const k = this.#keys(phone);
    return { phone: k.e164, exported_at: new Date().toISOString(), ...(await customerExport(this.d.sql, k)) };
  }

  async erase(phone: string, by: string | null): Promise<Record<string, number>> {
    const k = this.#keys(phone);
    const conversations = await conversationIdsByPhones(this.d.sql, k.phones);
    // Every form of the phone is a conversation actor id to forget (normally only the E.164 one).
    const erase = () => this.d.sql.begin((tx) => eraseCustomer(tx, { ...k, by }));
    const [first, ...rest] = k.phones;
    const forgetAll = (ids: string[]): Promise<Record<string, number>> =>
      ids.length === 0 ? erase() : this.d.system.forget(CONVERSATION, ids[0]!, () => forgetAll(ids.slice(1)));
    const counts = await this.d.system.forget(CONVERSATION, first!, () => forgetAll(rest));
    await this.d.erased?.();
    for (const id of conversations) this.d.conversationChanged?.(id);
    return counts;
  }
}
