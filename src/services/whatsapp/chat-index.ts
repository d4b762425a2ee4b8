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

interface IndexContext {
  chats: Map<string, ChatEntry>;
  /** Chat ids by lead id: a lead event finds its chats without walking every chat. */
  byLead: Map<string, Set<string>>;
  version: number;
}

/** Stores an entry, keeping `byLead` in step with its lead link (which a later entry may change). */
function put(ctx: IndexContext, entry: ChatEntry): void {
  const before = ctx.chats.get(entry.id)?.lead_id ?? null;
  if (before !== null && before !== entry.lead_id) {
    const ids = ctx.byLead.get(before);
    ids?.delete(entry.id);
    if (ids?.size === 0) ctx.byLead.delete(before);
  }
  ctx.chats.set(entry.id, entry);
  if (entry.lead_id !== null) {
    let ids = ctx.byLead.get(entry.lead_id);
    if (!ids) ctx.byLead.set(entry.lead_id, (ids = new Set()));
    ids.add(entry.id);
  }
}

// The Maps are updated in place (a new context object each time): an event costs O(1), not O(chats).
export function createChatIndex() {
  return createStore({
    context: { chats: new Map<string, ChatEntry>(), byLead: new Map<string, Set<string>>(), version: 0 } as IndexContext,
    on: {
      loaded: (ctx, e: { chats: ChatSummary[] }) => {
        ctx.chats.clear();
        ctx.byLead.clear();
        for (const c of e.chats) put(ctx, entryOf(c));
        return { ...ctx, version: ctx.version + 1 };
      },
      chat: (ctx, e: { chat: ChatSummary }) => {
        put(ctx, entryOf(e.chat));
        return { ...ctx, version: ctx.version + 1 };
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
        return { ...ctx, version: ctx.version + 1 };
      },
      status: (ctx, e: { chatId: string; status: string; at: Date }) => {
        const c = ctx.chats.get(e.chatId);
        if (c?.last_message && c.last_message.direction === 'out' && c.last_message.at === e.at.toISOString()) c.last_message.status = e.status;
        return { ...ctx, version: ctx.version + 1 };
      },
      read: (ctx, e: { chatId: string }) => {
        const c = ctx.chats.get(e.chatId);
        if (c) c.unread = 0;
        return { ...ctx, version: ctx.version + 1 };
      },
      // Every lead event comes here (two per webhook lead), and most leads have no chat.
      lead: (ctx, e: { leadId: string; consultantId: string | null }) => {
        const ids = ctx.byLead.get(e.leadId);
        if (!ids) return ctx;
        for (const id of ids) ctx.chats.get(id)!.consultant_id = e.consultantId;
        return { ...ctx, version: ctx.version + 1 };
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
