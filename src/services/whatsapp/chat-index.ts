/**
 * The inbox's chat list in memory, an `@xstate/store` rebuilt from the database at start and kept
 * current by the events that change it (a stored message, a receipt, a read, a lead assigned), so
 * listing chats does not query the database.
 *
 * @example
 * const index = createChatIndex();
 * index.trigger.loaded({ chats: await listChatSummaries(sql) });
 * visibleChats(index, { id: 'u1', role: 'CONSULTANT' }); // only chats of their own leads
 */
import { createStore } from '@xstate/store';
import type { ChatSummary } from '../../db/whatsapp.ts';

export interface ChatEntry {
  id: string;
  session: string;
  jid: string;
  phone: string | null;
  name: string | null;
  lead_id: string | null;
  consultant_id: string | null;
  unread: number;
  last_message: { text: string | null; kind: string; direction: 'in' | 'out'; status: string; at: string } | null;
  last_message_at: string | null;
}

export function entryOf(c: ChatSummary): ChatEntry {
  return {
    id: c.id,
    session: c.session,
    jid: c.jid,
    phone: c.phone,
    name: c.name,
    lead_id: c.lead_id,
    consultant_id: c.consultant_id,
    unread: c.unread,
    last_message:
      c.last_kind && c.last_direction
        ? { text: c.last_text, kind: c.last_kind, direction: c.last_direction, status: c.last_status ?? '', at: c.last_message_at?.toISOString() ?? '' }
        : null,
    last_message_at: c.last_message_at?.toISOString() ?? null,
  };
}

// The Map is updated in place (a new context object each time): an event costs O(1), not O(chats).
export function createChatIndex() {
  return createStore({
    context: { chats: new Map<string, ChatEntry>(), version: 0 },
    on: {
      loaded: (ctx, e: { chats: ChatSummary[] }) => {
        ctx.chats.clear();
        for (const c of e.chats) ctx.chats.set(c.id, entryOf(c));
        return { chats: ctx.chats, version: ctx.version + 1 };
      },
      chat: (ctx, e: { chat: ChatSummary }) => {
        ctx.chats.set(e.chat.id, entryOf(e.chat));
        return { chats: ctx.chats, version: ctx.version + 1 };
      },
      message: (ctx, e: { chatId: string; text: string | null; kind: string; direction: 'in' | 'out'; status: string; at: Date; unread: boolean }) => {
        const c = ctx.chats.get(e.chatId);
        if (!c) return ctx;
        const at = e.at.toISOString();
        if (!c.last_message_at || at >= c.last_message_at) {
          c.last_message = { text: e.text, kind: e.kind, direction: e.direction, status: e.status, at };
          c.last_message_at = at;
        }
        if (e.unread) c.unread++;
        return { chats: ctx.chats, version: ctx.version + 1 };
      },
      status: (ctx, e: { chatId: string; status: string; at: Date }) => {
        const c = ctx.chats.get(e.chatId);
        if (c?.last_message && c.last_message.direction === 'out' && c.last_message.at === e.at.toISOString()) c.last_message.status = e.status;
        return { chats: ctx.chats, version: ctx.version + 1 };
      },
      read: (ctx, e: { chatId: string }) => {
        const c = ctx.chats.get(e.chatId);
        if (c) c.unread = 0;
        return { chats: ctx.chats, version: ctx.version + 1 };
      },
      lead: (ctx, e: { leadId: string; consultantId: string | null }) => {
        for (const c of ctx.chats.values()) if (c.lead_id === e.leadId) c.consultant_id = e.consultantId;
        return { chats: ctx.chats, version: ctx.version + 1 };
      },
    },
  });
}

export type ChatIndex = ReturnType<typeof createChatIndex>;

/** Who may see a chat: managers and admins all; a consultant those linked to their own leads. */
export function maySee(user: { id: string; role: string }, chat: { consultant_id: string | null }): boolean {
  return user.role === 'ADMIN' || user.role === 'MANAGER' || (chat.consultant_id !== null && chat.consultant_id === user.id);
}

export function visibleChats(index: ChatIndex, user: { id: string; role: string }, session?: string): ChatEntry[] {
  const out: ChatEntry[] = [];
  for (const c of index.getSnapshot().context.chats.values()) {
    if ((session === undefined || c.session === session) && maySee(user, c)) out.push(c);
  }
  return out.sort((a, b) => (b.last_message_at ?? '').localeCompare(a.last_message_at ?? ''));
}
