/**
 * Phones ↔ WhatsApp JIDs. Brazilian mobiles gained a ninth digit, but WhatsApp accounts created
 * before it often still carry the 8-digit form in their JID: both forms are one customer.
 *
 * @example
 * phoneFromJid('551187654321@s.whatsapp.net')  // => '+5511987654321'
 * phoneVariants('+5511987654321')               // => ['+5511987654321', '+551187654321']
 * jidFromPhone('+5511987654321')                // => '5511987654321@s.whatsapp.net'
 */
import { normalizePhone } from '../phone.ts';

/** A Brazilian number: +55, two-digit area code, then 8 or 9 digits. */
const BR = /^\+?55(\d{2})(\d{8,9})$/;

/** E.164 of a phone JID ('5511…@s.whatsapp.net', device suffix allowed); null for LIDs and groups. */
export function phoneFromJid(jid: string): string | null {
  const at = jid.indexOf('@');
  if (at < 0 || !jid.endsWith('@s.whatsapp.net')) return null;
  const digits = jid.slice(0, at).split(':')[0]!;
  if (!/^\d{6,15}$/.test(digits)) return null;
  return canonicalPhone(`+${digits}`);
}

/** E.164, with a Brazilian 8-digit mobile (starting 6–9) given its ninth digit. */
export function canonicalPhone(input: string): string | null {
  const digits = input.replace(/\D/g, '');
  const br = BR.exec(digits);
  if (br && br[2]!.length === 8 && /^[6-9]/.test(br[2]!)) return normalizePhone(`+55${br[1]}9${br[2]}`) ?? `+55${br[1]}9${br[2]}`;
  // Without a plus: Brazilian by default (normalizePhone), then the digits as an international number.
  return (
    normalizePhone(input) ?? (input.trim().startsWith('+') ? undefined : normalizePhone(`+${digits}`)) ?? (digits.length >= 8 && digits.length <= 15 ? `+${digits}` : null)
  );
}

/** The forms one customer's phone may be stored in: itself, and the Brazilian mobile with or without the 9. */
export function phoneVariants(e164: string): string[] {
  const out = [e164];
  const br = BR.exec(e164.replace(/[^\d+]/g, ''));
  if (br) {
    const [, ddd, local] = br as unknown as [string, string, string];
    if (local.length === 9 && local.startsWith('9')) out.push(`+55${ddd}${local.slice(1)}`);
    if (local.length === 8 && /^[6-9]/.test(local)) out.push(`+55${ddd}9${local}`);
  }
  return out;
}

export function jidFromPhone(e164: string): string {
  return `${e164.replace(/\D/g, '')}@s.whatsapp.net`;
}
