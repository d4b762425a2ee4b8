/**
 * Lead webhooks are signed: `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`
 * keyed with WEBHOOK_SECRET, with `X-Webhook-Timestamp` in unix seconds no more than 300 s off.
 *
 * @example
 * const sig = signWebhook(secret, ts, body);
 * verifyWebhook({ secret, timestamp: String(ts), signature: sig, rawBody: body, nowSeconds: ts }) // => { ok: true }
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAX_SKEW_SECONDS = 300;

export function signWebhook(secret: string, timestamp: number | string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export type WebhookCheck = { ok: true } | { ok: false; code: 'missing_signature' | 'stale_timestamp' | 'bad_signature'; message: string };

export function verifyWebhook(p: {
  secret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  nowSeconds: number;
}): WebhookCheck {
  if (!p.timestamp || !p.signature) {
    return { ok: false, code: 'missing_signature', message: 'X-Webhook-Timestamp and X-Webhook-Signature are required' };
  }
  if (!/^\d{1,12}$/.test(p.timestamp) || Math.abs(p.nowSeconds - Number(p.timestamp)) > MAX_SKEW_SECONDS) {
    return { ok: false, code: 'stale_timestamp', message: 'X-Webhook-Timestamp is more than 300 s off the server clock' };
  }
  const expected = Buffer.from(signWebhook(p.secret, p.timestamp, p.rawBody));
  const given = Buffer.from(p.signature.trim());
  // Compare in constant time; a length mismatch is already a mismatch, but still costs a compare.
  const ok = given.length === expected.length ? timingSafeEqual(given, expected) : (timingSafeEqual(expected, expected), false);
  return ok ? { ok: true } : { ok: false, code: 'bad_signature', message: 'The signature does not match' };
}
