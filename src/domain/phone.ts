/**
 * Phone numbers to E.164 with libphonenumber-js (Google's metadata, maintained upstream).
 * Brazilian numbers without a country code are read as +55; landlines and mobiles are both valid.
 *
 * @example
 * normalizePhone('(11) 98765-4321') // => '+5511987654321'
 * normalizePhone('+1 212 555 0100') // => '+12125550100'
 * normalizePhone('123')             // => undefined
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

export function normalizePhone(input: string): string | undefined {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 40) return undefined;
  // "55 11 98765-4321" and "5511987654321" carry the country code without a plus.
  const digits = trimmed.replace(/\D/g, '');
  const candidates = trimmed.startsWith('+') || trimmed.startsWith('00') ? [trimmed.replace(/^00/, '+')] : [trimmed];
  if (!trimmed.startsWith('+') && digits.startsWith('55') && digits.length >= 12) candidates.push(`+${digits}`);
  for (const candidate of candidates) {
    const parsed = parsePhoneNumberFromString(candidate, 'BR');
    if (parsed?.isValid()) return parsed.number;
  }
  return undefined;
}
