/**
 * What a Baileys `WAMessage` means to us, decided without I/O: a message (text, caption, media,
 * quote, undecryptable stub), an edit or a delete of an earlier one, or something ignored (groups,
 * status broadcasts, newsletters, protocol noise). Both drivers' messages come through here.
 *
 * @example
 * normalizeMessage({ key: { remoteJid: '5511987654321@s.whatsapp.net', fromMe: false, id: 'A1' },
 *   message: { conversation: 'Oi' }, messageTimestamp: 1764590000 })
 * // => { kind: 'message', waId: 'A1', type: 'text', text: 'Oi', fromMe: false, ... }
 */
import { getContentType, isJidGroup, isJidNewsletter, isJidStatusBroadcast, normalizeMessageContent, proto, type WAMessage } from '@whiskeysockets/baileys';
import { phoneFromJid } from './jid.ts';

export type MessageType = 'text' | 'image' | 'audio' | 'voice' | 'video' | 'document' | 'sticker' | 'ciphertext' | 'unsupported';
export type MediaType = 'image' | 'audio' | 'voice' | 'video' | 'document' | 'sticker';

export interface MediaInfo {
  type: MediaType;
  mime: string;
  size: number | null;
  fileName: string | null;
}

/** Who the other side is: the JIDs a message carries (LID and/or phone). */
export interface Peer {
  /** `…@s.whatsapp.net` when the message tells it. */
  pnJid: string | null;
  /** `…@lid` when the message carries one. */
  lid: string | null;
  /** E.164 of pnJid (Brazilian 8-digit mobiles get their ninth digit). */
  phone: string | null;
}

interface Common {
  waId: string;
  remoteJid: string;
  fromMe: boolean;
  peer: Peer;
  pushName: string | null;
  at: Date;
}

export type Normalized =
  | (Common & {
      kind: 'message';
      type: MessageType;
      text: string | null;
      quoted: { waId: string; text: string | null } | null;
      media: MediaInfo | null;
    })
  | (Common & { kind: 'edit'; targetWaId: string; text: string | null })
  | (Common & { kind: 'revoke'; targetWaId: string })
  | { kind: 'ignored'; reason: 'group' | 'status' | 'newsletter' | 'no-key' | 'protocol' | 'empty'; waId: string | null };

const MEDIA_KEYS: Record<string, MediaType> = {
  imageMessage: 'image',
  audioMessage: 'audio',
  videoMessage: 'video',
  ptvMessage: 'video',
  documentMessage: 'document',
  stickerMessage: 'sticker',
};

/** Unix seconds (number or protobuf Long) → Date; now when absent. */
export function timestampOf(ts: unknown, now = Date.now()): Date {
  if (typeof ts === 'number' && Number.isFinite(ts) && ts > 0) return new Date(ts * 1000);
  if (ts && typeof ts === 'object' && typeof (ts as { toNumber?: unknown }).toNumber === 'function') {
    return new Date((ts as { toNumber(): number }).toNumber() * 1000);
  }
  if (typeof ts === 'string' && /^\d+$/.test(ts)) return new Date(Number(ts) * 1000);
  return new Date(now);
}

/** The LID and phone JIDs of the chat, from `remoteJid` and its `remoteJidAlt`. */
export function peerOf(msg: Pick<WAMessage, 'key'>): Peer {
  const jids = [msg.key.remoteJid, msg.key.remoteJidAlt].filter((j): j is string => !!j);
  const lid = jids.find((j) => j.endsWith('@lid')) ?? null;
  const pnJid = jids.find((j) => j.endsWith('@s.whatsapp.net')) ?? null;
  return { lid: lid && bareJid(lid), pnJid: pnJid && bareJid(pnJid), phone: pnJid ? phoneFromJid(pnJid) : null };
}

/** '5511…:12@s.whatsapp.net' → '5511…@s.whatsapp.net' (the device part dropped). */
export function bareJid(jid: string): string {
  const at = jid.indexOf('@');
  if (at < 0) return jid;
  const user = jid.slice(0, at).split(':')[0]!;
  return `${user}${jid.slice(at)}`;
}

function textOf(m: proto.IMessage | null | undefined): string | null {
  if (!m) return null;
  return (
    m.conversation ??
    m.extendedTextMessage?.text ??
    m.imageMessage?.caption ??
    m.videoMessage?.caption ??
    m.documentMessage?.caption ??
    null
  );
}

export function normalizeMessage(msg: WAMessage, now = Date.now()): Normalized {
  const remoteJid = msg.key?.remoteJid;
  const waId = msg.key?.id ?? null;
  if (!remoteJid || !waId) return { kind: 'ignored', reason: 'no-key', waId };
  if (isJidGroup(remoteJid)) return { kind: 'ignored', reason: 'group', waId };
  if (isJidStatusBroadcast(remoteJid) || remoteJid.endsWith('@broadcast')) return { kind: 'ignored', reason: 'status', waId };
  if (isJidNewsletter(remoteJid)) return { kind: 'ignored', reason: 'newsletter', waId };

  const common: Common = {
    waId,
    remoteJid,
    fromMe: !!msg.key.fromMe,
    peer: peerOf(msg),
    pushName: msg.pushName ?? null,
    at: timestampOf(msg.messageTimestamp, now),
  };

  // A message we could not decrypt: kept, marked, so nobody thinks nothing came.
  if (msg.messageStubType === proto.WebMessageInfo.StubType.CIPHERTEXT) {
    return { ...common, kind: 'message', type: 'ciphertext', text: null, quoted: null, media: null };
  }
  const content = normalizeMessageContent(msg.message);
  if (!content) return { kind: 'ignored', reason: 'empty', waId };

  const protocol = content.protocolMessage;
  if (protocol) {
    const target = protocol.key?.id;
    if (protocol.type === proto.Message.ProtocolMessage.Type.MESSAGE_EDIT && target) {
      return { ...common, kind: 'edit', targetWaId: target, text: textOf(normalizeMessageContent(protocol.editedMessage)) };
    }
    if (protocol.type === proto.Message.ProtocolMessage.Type.REVOKE && target) {
      return { ...common, kind: 'revoke', targetWaId: target };
    }
    // History sync notifications, app-state keys, ephemeral settings…: not conversation.
    return { kind: 'ignored', reason: 'protocol', waId };
  }

  const type = getContentType(content);
  if (!type || type === 'reactionMessage' || type === 'senderKeyDistributionMessage' || type === 'messageContextInfo') {
    return { kind: 'ignored', reason: 'protocol', waId };
  }
  const contextInfo =
    content.extendedTextMessage?.contextInfo ??
    content.imageMessage?.contextInfo ??
    content.videoMessage?.contextInfo ??
    content.audioMessage?.contextInfo ??
    content.documentMessage?.contextInfo ??
    content.stickerMessage?.contextInfo ??
    null;
  const quoted = contextInfo?.stanzaId ? { waId: contextInfo.stanzaId, text: textOf(normalizeMessageContent(contextInfo.quotedMessage)) } : null;

  let kind: MessageType = 'unsupported';
  let media: MediaInfo | null = null;
  if (type === 'conversation' || type === 'extendedTextMessage') kind = 'text';
  const mediaType = MEDIA_KEYS[type];
  if (mediaType) {
    const m = content[type as 'imageMessage'] as proto.Message.IImageMessage & { ptt?: boolean | null; fileName?: string | null };
    const t: MediaType = mediaType === 'audio' && m.ptt ? 'voice' : mediaType;
    kind = t;
    media = {
      type: t,
      mime: m.mimetype ?? 'application/octet-stream',
      size: m.fileLength == null ? null : Number(m.fileLength),
      fileName: m.fileName ?? null,
    };
  }
  return { ...common, kind: 'message', type: kind, text: textOf(content), quoted, media };
}
