/**
 * The inbox's in-memory chat index: a lead event moves only that lead's chats to its consultant,
 * follows a chat re-linked to another lead, and never walks every chat (each webhook lead sends
 * two lead events, and most leads have no chat).
 */
import { describe, expect, it } from 'vitest';
import type { ChatSummary } from '../src/db/whatsapp.ts';
import { createChatIndex, visibleChats } from '../src/services/whatsapp/chat-index.ts';

const chat = (id: string, leadId: string | null, consultantId: string | null): ChatSummary => ({
  id,
  session: 'consultants',
  jid: `55119${id.padStart(8, '0')}@s.whatsapp.net`,
  phone: null,
  lid: null,
  name: `Chat ${id}`,
  lead_id: leadId,
  unread: 0,
  last_message_at: null,
  created_at: new Date(0),
  consultant_id: consultantId,
  last_text: null,
  last_kind: null,
  last_direction: null,
  last_status: null,
});

const owners = (index: ReturnType<typeof createChatIndex>) =>
  Object.fromEntries([...index.getSnapshot().context.chats.values()].map((c) => [c.id, c.consultant_id]));

describe('chat index', () => {
  it("a lead event moves that lead's chats, and follows a chat re-linked to another lead", () => {
    const index = createChatIndex();
    index.trigger.loaded({ chats: [chat('1', 'L1', 'A'), chat('2', 'L1', 'A'), chat('3', 'L2', 'A'), chat('4', null, null)] });

    index.trigger.lead({ leadId: 'L1', consultantId: 'B' });
    expect(owners(index)).toEqual({ 1: 'B', 2: 'B', 3: 'A', 4: null });
    expect(visibleChats(index, { id: 'B', role: 'CONSULTANT' }).map((c) => c.id).sort()).toEqual(['1', '2']);

    // Chat 3 now belongs to lead L1 (a customer's chat linked to the lead it became).
    index.trigger.chat({ chat: chat('3', 'L1', 'B') });
    index.trigger.lead({ leadId: 'L1', consultantId: 'C' });
    index.trigger.lead({ leadId: 'L2', consultantId: 'D' });
    expect(owners(index)).toEqual({ 1: 'C', 2: 'C', 3: 'C', 4: null });

    // A reload starts again from what it is given.
    index.trigger.loaded({ chats: [chat('5', 'L2', null)] });
    index.trigger.lead({ leadId: 'L1', consultantId: 'E' });
    index.trigger.lead({ leadId: 'L2', consultantId: 'F' });
    expect(owners(index)).toEqual({ 5: 'F' });
  });

  it('a lead event never walks every chat; one for a lead without a chat changes nothing', () => {
    const index = createChatIndex();
    index.trigger.loaded({ chats: Array.from({ length: 1000 }, (_, i) => chat(String(i), `L${i}`, 'A')) });
    const context = index.getSnapshot().context;
    const chats = context.chats;
    const walk = () => {
      throw new Error('walked every chat');
    };
    chats.values = walk;
    chats.forEach = walk;
    chats.entries = walk;
    chats[Symbol.iterator] = walk;

    index.trigger.lead({ leadId: 'no-chat', consultantId: 'B' });
    expect(index.getSnapshot().context).toBe(context);
    index.trigger.lead({ leadId: 'L7', consultantId: 'B' });
    expect(chats.get('7')!.consultant_id).toBe('B');
    expect(chats.get('8')!.consultant_id).toBe('A');
  });
});
