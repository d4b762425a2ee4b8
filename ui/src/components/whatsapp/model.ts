/** The WhatsApp API's shapes as the pages use them (src/http/routes/whatsapp.ts), and their pt-BR labels. */
export interface WaSession {
  name: string;
  status: string;
  qr?: string;
  phone?: string;
  reason?: string;
  since?: string;
}
export interface WaChat {
  id: string;
  session: string;
  phone: string | null;
  name: string | null;
  lead_id: string | null;
  unread: number;
  last_message: { text: string | null; kind: string; direction: 'in' | 'out'; status: string; at: string } | null;
}
export interface WaMedia {
  id: string;
  type: string;
  mime: string;
  size: number | null;
  status: string;
  file_name: string | null;
  url: string;
}
export interface WaMessage {
  id: string;
  chat_id: string;
  direction: 'in' | 'out';
  kind: string;
  text: string | null;
  status: string;
  failure: string | null;
  at: string;
  quoted: { id: string; text: string | null } | null;
  edited: boolean;
  deleted: boolean;
  media?: WaMedia;
}
export interface WaStatus {
  id: string;
  chat_id: string;
  status: string;
  failure: string | null;
}

export const SESSION_STATUS: Record<string, string> = {
  connecting: 'conectando',
  pairing: 'aguardando pareamento',
  open: 'conectado',
  reconnecting: 'reconectando',
  loggedOut: 'desconectado',
  replaced: 'aberto em outro lugar',
  failed: 'falhou',
};
export const SESSION_NAMES: Record<string, string> = { livia: 'Lívia', consultant: 'Consultores' };

/** Delivery ticks: the mark shown and what a screen reader says. */
export const TICKS: Record<string, { mark: string; label: string }> = {
  pending: { mark: '🕓', label: 'enviando' },
  sent: { mark: '✓', label: 'enviada' },
  delivered: { mark: '✓✓', label: 'entregue' },
  read: { mark: '✓✓', label: 'lida' },
  failed: { mark: '⚠', label: 'falhou' },
};

export const timeOf = (at: string) => new Date(at).toLocaleString('pt-BR', { day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit' });

/**
 * What the chat list shows of its chats: the open chat counts as read (it is being read), and a last
 * message's delivery status is not shown. Two lists with the same key look the same, so a refresh
 * that brings nothing new leaves the page (and its code) alone.
 */
export function openChats(chats: WaChat[], open: string): WaChat[] {
  return chats.map((c) => (c.id === open && c.unread !== 0 ? { ...c, unread: 0 } : c));
}
export const chatsKey = (chats: WaChat[]) => JSON.stringify(chats.map((c) => ({ ...c, last_message: c.last_message && { ...c.last_message, status: '' } })));
/** What a thread shows of its messages: an inbound message's status (read by us or not) is not shown. */
export const messagesKey = (messages: WaMessage[]) => JSON.stringify(messages.map((m) => (m.direction === 'in' ? { ...m, status: '' } : m)));
/** Whether a thread has inbound messages this user has not read yet. */
export const hasUnread = (messages: WaMessage[]) => messages.some((m) => m.direction === 'in' && m.status !== 'read');
