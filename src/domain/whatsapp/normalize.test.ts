/**
 * Normalization of real-shaped `proto.IWebMessageInfo` fixtures (as Baileys 7 emits them in
 * `messages.upsert`), and the phone ↔ JID rules with the Brazilian ninth digit.
 */
import { proto } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import type { WAMessage } from '../../actors/whatsapp/transport.ts';
import { canonicalPhone, jidFromPhone, phoneFromJid, phoneVariants } from './jid.ts';
import { normalizeMessage, timestampOf } from './normalize.ts';

const TS = 1764590400;
const PN = '5511987654321@s.whatsapp.net';
const LID = '123456789012345@lid';

const base = (over: Partial<WAMessage> & { message?: proto.IMessage | null }): WAMessage =>
  ({
    key: { remoteJid: PN, fromMe: false, id: '3EB0A1B2C3D4E5F6A7B8' },
    messageTimestamp: TS,
    pushName: 'Ana Souza',
    broadcast: false,
    ...over,
  }) as WAMessage;

// The same fixtures through the protobuf round trip, as they are decoded off the wire.
const decoded = (m: WAMessage): WAMessage => {
  const wire = proto.WebMessageInfo.encode(proto.WebMessageInfo.fromObject(m)).finish();
  const back = proto.WebMessageInfo.decode(wire) as unknown as WAMessage;
  back.key = { ...back.key, ...m.key };
  return back;
};

describe('normalizeMessage', () => {
  it('plain text (conversation)', () => {
    for (const m of [base({ message: { conversation: 'Oi, tudo bem?' } }), decoded(base({ message: { conversation: 'Oi, tudo bem?' } }))]) {
      const n = normalizeMessage(m);
      expect(n).toMatchObject({ kind: 'message', type: 'text', text: 'Oi, tudo bem?', fromMe: false, waId: '3EB0A1B2C3D4E5F6A7B8', pushName: 'Ana Souza' });
      if (n.kind === 'message') {
        expect(n.at.toISOString()).toBe(new Date(TS * 1000).toISOString());
        expect(n.peer).toEqual({ pnJid: PN, lid: null, phone: '+5511987654321' });
      }
    }
  });

  it('extended text, wrapped in an ephemeral message (disappearing chat)', () => {
    const m = base({ message: { ephemeralMessage: { message: { extendedTextMessage: { text: 'Quero simular', previewType: 0 } } } } });
    expect(normalizeMessage(decoded(m))).toMatchObject({ kind: 'message', type: 'text', text: 'Quero simular' });
  });

  it('a captioned image: type, caption, mime and size', () => {
    const m = base({
      message: {
        imageMessage: {
          url: 'https://mmg.whatsapp.net/v/t62.7118-24/x.enc',
          mimetype: 'image/jpeg',
          caption: 'meu documento',
          fileLength: 48213,
          mediaKey: new Uint8Array(32),
          fileSha256: new Uint8Array(32),
          height: 1280,
          width: 960,
        },
      },
    });
    expect(normalizeMessage(decoded(m))).toMatchObject({
      kind: 'message',
      type: 'image',
      text: 'meu documento',
      media: { type: 'image', mime: 'image/jpeg', size: 48213, fileName: null },
    });
  });

  it('a voice note (ptt audio) and a document with caption', () => {
    const voice = base({ message: { audioMessage: { mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 7, fileLength: 12000 } } });
    expect(normalizeMessage(decoded(voice))).toMatchObject({ type: 'voice', media: { type: 'voice', mime: 'audio/ogg; codecs=opus' } });
    const doc = base({
      message: { documentWithCaptionMessage: { message: { documentMessage: { mimetype: 'application/pdf', fileName: 'holerite.pdf', caption: 'segue', fileLength: 90000 } } } },
    });
    expect(normalizeMessage(decoded(doc))).toMatchObject({ type: 'document', text: 'segue', media: { fileName: 'holerite.pdf', mime: 'application/pdf' } });
  });

  it('a quoted reply keeps what it quotes', () => {
    const m = base({
      message: {
        extendedTextMessage: {
          text: 'Sim, esse valor',
          contextInfo: { stanzaId: '3EB0QUOTED', participant: PN, quotedMessage: { conversation: 'Seria R$ 5.000?' } },
        },
      },
    });
    expect(normalizeMessage(decoded(m))).toMatchObject({ type: 'text', text: 'Sim, esse valor', quoted: { waId: '3EB0QUOTED', text: 'Seria R$ 5.000?' } });
  });

  it('an edit (protocolMessage MESSAGE_EDIT, inside editedMessage) names the edited message', () => {
    const m = base({
      key: { remoteJid: PN, fromMe: false, id: '3EB0EDIT' },
      message: {
        editedMessage: {
          message: {
            protocolMessage: {
              key: { remoteJid: PN, fromMe: false, id: '3EB0ORIGINAL' },
              type: proto.Message.ProtocolMessage.Type.MESSAGE_EDIT,
              editedMessage: { conversation: 'texto corrigido' },
              timestampMs: TS * 1000,
            },
          },
        },
      },
    });
    expect(normalizeMessage(decoded(m))).toMatchObject({ kind: 'edit', targetWaId: '3EB0ORIGINAL', text: 'texto corrigido' });
  });

  it('a delete (REVOKE) names the deleted message', () => {
    const m = base({
      key: { remoteJid: PN, fromMe: false, id: '3EB0REVOKE' },
      message: { protocolMessage: { key: { remoteJid: PN, fromMe: false, id: '3EB0GONE' }, type: proto.Message.ProtocolMessage.Type.REVOKE } },
    });
    expect(normalizeMessage(decoded(m))).toMatchObject({ kind: 'revoke', targetWaId: '3EB0GONE' });
  });

  it('groups, status broadcasts and newsletters are ignored', () => {
    const group = base({ key: { remoteJid: '120363025246125888@g.us', fromMe: false, id: 'G1', participant: PN }, message: { conversation: 'oi grupo' } });
    expect(normalizeMessage(group)).toEqual({ kind: 'ignored', reason: 'group', waId: 'G1' });
    const status = base({ key: { remoteJid: 'status@broadcast', fromMe: false, id: 'S1', participant: PN }, message: { conversation: 'story' } });
    expect(normalizeMessage(status)).toMatchObject({ kind: 'ignored', reason: 'status' });
    const news = base({ key: { remoteJid: '120363144038483540@newsletter', fromMe: false, id: 'N1' }, message: { conversation: 'news' } });
    expect(normalizeMessage(news)).toMatchObject({ kind: 'ignored', reason: 'newsletter' });
  });

  it('a LID sender with remoteJidAlt: the phone comes from the alt JID', () => {
    const m = base({ key: { remoteJid: LID, remoteJidAlt: PN, fromMe: false, id: 'L1', addressingMode: 'lid' }, message: { conversation: 'via lid' } });
    const n = normalizeMessage(m);
    expect(n).toMatchObject({ kind: 'message', text: 'via lid', peer: { lid: LID, pnJid: PN, phone: '+5511987654321' } });
  });

  it('a LID sender without remoteJidAlt: no phone yet (resolved later from the mapping)', () => {
    const m = base({ key: { remoteJid: LID, fromMe: false, id: 'L2', addressingMode: 'lid' }, message: { conversation: 'só lid' } });
    expect(normalizeMessage(m)).toMatchObject({ kind: 'message', peer: { lid: LID, pnJid: null, phone: null } });
  });

  it('our own message (fromMe), e.g. from an append upsert after being offline', () => {
    const m = base({ key: { remoteJid: PN, fromMe: true, id: '3EB0MINE' }, message: { conversation: 'enviado pelo celular' }, status: 2 });
    expect(normalizeMessage(decoded(m))).toMatchObject({ kind: 'message', fromMe: true, text: 'enviado pelo celular' });
  });

  it('a ciphertext stub (failed to decrypt) is kept and marked', () => {
    const m = base({
      key: { remoteJid: PN, fromMe: false, id: 'C1' },
      message: null,
      messageStubType: proto.WebMessageInfo.StubType.CIPHERTEXT,
      messageStubParameters: ['Invalid PreKey ID'],
    });
    expect(normalizeMessage(decoded(m))).toMatchObject({ kind: 'message', type: 'ciphertext', text: null, waId: 'C1' });
  });

  it('reactions and key distribution are protocol noise, not conversation', () => {
    expect(normalizeMessage(base({ message: { reactionMessage: { key: { id: 'X' }, text: '👍' } } }))).toMatchObject({ kind: 'ignored', reason: 'protocol' });
    expect(normalizeMessage(base({ message: { senderKeyDistributionMessage: { groupId: 'g' } } }))).toMatchObject({ kind: 'ignored' });
  });

  it('timestamps as numbers, protobuf Longs and strings', () => {
    const d = decoded(base({ message: { conversation: 'x' } }));
    expect(timestampOf(d.messageTimestamp).getTime()).toBe(TS * 1000);
    expect(timestampOf(String(TS)).getTime()).toBe(TS * 1000);
    expect(timestampOf(undefined, 42).getTime()).toBe(42);
  });
});

describe('phones and JIDs', () => {
  it('E.164 from a JID; a Brazilian 8-digit mobile gets its ninth digit', () => {
    expect(phoneFromJid('5511987654321@s.whatsapp.net')).toBe('+5511987654321');
    expect(phoneFromJid('5511987654321:12@s.whatsapp.net')).toBe('+5511987654321');
    expect(phoneFromJid('551187654321@s.whatsapp.net')).toBe('+5511987654321');
    // A landline (starts 2–5) keeps its 8 digits.
    expect(phoneFromJid('551133334444@s.whatsapp.net')).toBe('+551133334444');
    expect(phoneFromJid('12125550100@s.whatsapp.net')).toBe('+12125550100');
    expect(phoneFromJid(LID)).toBeNull();
    expect(phoneFromJid('120363025246125888@g.us')).toBeNull();
  });

  it('variants match a lead stored with or without the ninth digit', () => {
    expect(phoneVariants('+5511987654321')).toEqual(['+5511987654321', '+551187654321']);
    expect(phoneVariants('+12125550100')).toEqual(['+12125550100']);
    expect(canonicalPhone('(11) 98765-4321')).toBe('+5511987654321');
    expect(jidFromPhone('+5511987654321')).toBe('5511987654321@s.whatsapp.net');
  });
});
