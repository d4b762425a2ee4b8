/**
 * Lívia's conversations for the web app: the list, one conversation with its transcript, and what a
 * consultant does with it (take it over, give it back, write to the customer while HUMAN, which goes
 * out on Lívia's number as the actor's `conversation.reply` effect).
 *
 * Who sees what: managers and admins see every conversation. A CONSULTANT sees, and acts on, only
 * conversations whose lead is assigned to them (a conversation has a lead once Lívia handed the
 * customer off); any other is 404 to them, as leads are.
 *
 * @example
 * const svc = new ConversationService({ sql, system });
 * await svc.takeover(user, id);
 * await svc.message(user, id, 'Oi, aqui é a Ana');
 */
import { CONVERSATION } from '../actors/conversation.ts';
import type { ConversationEvent } from '../actors/conversation.machine.ts';
import type { Sql } from '../db/client.ts';
import type { Stage } from '../domain/qualification.ts';
import { conversationById, listConversations, transcriptById, type ConversationListRow } from '../db/conversations.ts';
import { ServiceError } from './errors.ts';

export interface ConversationView {
  id: string;
  phone: string;
  stage: Stage;
  data: Record<string, unknown>;
  lead_id: string | null;
  updated_at: string;
}

export interface ConversationDetail extends ConversationView {
  messages: { role: 'customer' | 'livia' | 'consultant'; text: string; at: string }[];
}

type User = { id: string; role: string };

export class ConversationError extends ServiceError {
  constructor(kind: 'not_found' | 'conflict', message: string) {
    super(kind, kind, message);
  }
}

export function conversationView(r: ConversationListRow): ConversationView {
  return { id: r.id, phone: r.phone, stage: r.stage as Stage, data: r.data, lead_id: r.lead_id, updated_at: r.updated_at.toISOString() };
}

/** Whether this user may see a conversation (managers and admins: all; a consultant: their leads'). */
export function maySeeConversation(user: User, c: { consultant_id: string | null }): boolean {
  return user.role !== 'CONSULTANT' || (c.consultant_id !== null && c.consultant_id === user.id);
}

export class ConversationService {
  constructor(private readonly d: { sql: Sql; system: { send(type: string, id: string, e: ConversationEvent): Promise<unknown> } }) {}

  async list(user: User, stage?: string): Promise<ConversationView[]> {
    const rows = await listConversations(this.d.sql, { stage, consultantId: user.role === 'CONSULTANT' ? user.id : undefined, limit: 500 });
    return rows.map(conversationView);
  }

  async #visible(user: User, id: string): Promise<ConversationListRow> {
    const row = await conversationById(this.d.sql, id);
    if (!row || !maySeeConversation(user, row)) throw new ConversationError('not_found', 'Conversa não encontrada');
    return row;
  }

  async get(user: User, id: string): Promise<ConversationDetail> {
    const row = await this.#visible(user, id);
    const messages = (await transcriptById(this.d.sql, id)).map((m) => ({ role: m.role, text: m.text, at: m.created_at.toISOString() }));
    return { ...conversationView(row), messages };
  }

  async takeover(user: User, id: string): Promise<ConversationView> {
    const row = await this.#visible(user, id);
    if (row.stage === 'OPTED_OUT') throw new ConversationError('conflict', 'O cliente pediu para não receber mensagens');
    await this.d.system.send(CONVERSATION, row.phone, { type: 'conversation.takeover', by: user.id, at: new Date().toISOString() });
    return this.#after(user, id, (s) => s === 'HUMAN', 'A conversa não pôde ser assumida');
  }

  async release(user: User, id: string): Promise<ConversationView> {
    const row = await this.#visible(user, id);
    if (row.stage !== 'HUMAN') throw new ConversationError('conflict', 'A conversa não está com um consultor');
    await this.d.system.send(CONVERSATION, row.phone, { type: 'conversation.release', by: user.id, at: new Date().toISOString() });
    return this.#after(user, id, (s) => s !== 'HUMAN', 'A conversa não pôde ser devolvida');
  }

  /** Only while HUMAN: Lívia is silent and the consultant writes, on Lívia's number. */
  async message(user: User, id: string, text: string): Promise<ConversationView> {
    const row = await this.#visible(user, id);
    if (row.stage !== 'HUMAN') throw new ConversationError('conflict', 'Assuma a conversa antes de escrever ao cliente');
    await this.d.system.send(CONVERSATION, row.phone, { type: 'consultant.message', text, by: user.id, at: new Date().toISOString() });
    return conversationView(await this.#visible(user, id));
  }

  async #after(user: User, id: string, ok: (stage: string) => boolean, message: string): Promise<ConversationView> {
    const row = await this.#visible(user, id);
    if (!ok(row.stage)) throw new ConversationError('conflict', message);
    return conversationView(row);
  }
}
