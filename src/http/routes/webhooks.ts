/**
 * `POST /api/webhooks/leads`: signed lead intake. The signature is checked on the raw body before
 * anything is parsed, so an unsigned sender learns nothing about validation.
 */
import { z } from 'zod';
import { normalizePhone } from '../../domain/phone.ts';
import type { LeadPipeline } from '../../services/lead-pipeline.ts';
import { ApiError, validationError } from '../errors.ts';
import { createRoute, errors, json, router, z as oz } from '../openapi.ts';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../types.ts';
import { chargeClient, senderKey, senderRateLimit } from '../webhook-rate-limit.ts';
import type { MakeLimiter } from '../rate-limit.ts';
import { verifyWebhook } from '../webhook-signature.ts';

/** Printable text only: NUL and other control characters (bar tab and newlines) are refused. */
const printable = (s: string) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s);
const NO_CONTROL = 'must not contain control characters';
const text = (max: number) => z.string().trim().max(max).refine(printable, NO_CONTROL);

const money = z.number().finite().min(0).max(1_000_000_000);

/** Parsed once, into E.164: what the handler stores is what was validated. */
const phone = text(40).transform((raw, ctx) => {
  const e164 = normalizePhone(raw);
  if (!e164) ctx.addIssue({ code: 'custom', message: 'is not a valid phone number' });
  return e164 ?? raw;
});

export const WebhookLeadSchema = z
  .object({
    name: text(200).pipe(z.string().min(1, 'is required')),
    phone: phone.optional(),
    email: text(254).pipe(z.string().email()).optional(),
    source: text(50).pipe(z.string().min(1)).default('site'),
    external_id: text(200).pipe(z.string().min(1)).optional(),
    message: text(5000).optional(),
    requested_amount: money.optional(),
    monthly_income: money.optional(),
    metadata: z
      .record(z.string().max(100).refine(printable, NO_CONTROL), z.union([z.string().max(2000).refine(printable, NO_CONTROL), z.number(), z.boolean(), z.null()]))
      .optional(),
  })
  .superRefine((b, ctx) => {
    if (!b.phone && !b.email) ctx.addIssue({ code: 'custom', path: ['phone'], message: 'phone or email is required' });
  });

const route = createRoute({
  method: 'post',
  path: '/leads',
  tags: ['webhooks'],
  description:
    'Signed lead intake. Headers: X-Webhook-Timestamp (unix seconds), X-Webhook-Signature ' +
    '(sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">), optional Idempotency-Key. Body: ' +
    '{name, phone?, email?, source?, external_id?, message?, requested_amount?, monthly_income?, metadata?}. ' +
    'A signature is accepted once: the same timestamp and signature again answers 200 {id, duplicate: true}, ' +
    'whatever its Idempotency-Key. Signed requests are limited per sender key (WEBHOOK_RATE_LIMIT_PER_MINUTE).',
  responses: {
    202: json(oz.object({ id: oz.string().uuid(), status: oz.literal('NEW') }), 'Stored; classification and assignment follow'),
    200: json(oz.object({ id: oz.string().uuid(), duplicate: oz.literal(true) }), 'Seen before; nothing created'),
    400: errors[400],
    401: errors[401],
    422: errors[422],
    429: errors[429],
    503: errors[503],
  },
});

export function webhookRoutes(deps: {
  secret: string;
  pipeline: LeadPipeline;
  /** Signed webhooks per minute per sender key. */
  perSenderPerMinute: number;
  limiters?: MakeLimiter | undefined;
  /** The per-client limit, charged here for requests whose signature fails (the app skips them). */
  clientLimit: MiddlewareHandler<AppEnv>;
  now?: () => number;
}) {
  const r = router();
  const senders = senderRateLimit({ perMinute: deps.perSenderPerMinute, limiters: deps.limiters });
  const sender = senderKey(deps.secret);
  r.openapi(route, async (c) => {
    const raw = await c.req.text();
    const timestamp = c.req.header('x-webhook-timestamp');
    const signature = c.req.header('x-webhook-signature');
    const check = verifyWebhook({
      secret: deps.secret,
      timestamp,
      signature,
      rawBody: raw,
      nowSeconds: Math.floor((deps.now?.() ?? Date.now()) / 1000),
    });
    if (!check.ok) {
      await chargeClient(deps.clientLimit, c);
      throw new ApiError(401, check.code, check.message);
    }
    await senders.consume(sender);

    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new ApiError(400, 'malformed_json', 'The request body is not valid JSON');
    }
    const idempotencyKey = c.req.header('idempotency-key')?.trim() || null;
    if (idempotencyKey && idempotencyKey.length > 200) {
      throw new ApiError(422, 'validation_failed', 'The request is not valid', [{ path: 'Idempotency-Key', message: 'at most 200 characters' }]);
    }
    const parsed = WebhookLeadSchema.safeParse(body);
    if (!parsed.success) throw validationError(parsed.error);
    const b = parsed.data;
    const result = await deps.pipeline.intake({
      name: b.name,
      // zod hands the refinement the very object it returns; should that ever change, parse again.
      phone: b.phone ?? null,
      email: b.email ?? null,
      source: b.source,
      externalId: b.external_id ?? null,
      idempotencyKey,
      message: b.message ?? null,
      requestedAmount: b.requested_amount ?? null,
      monthlyIncome: b.monthly_income ?? null,
      metadata: { ...(b.metadata ?? {}), user_agent: c.req.header('user-agent') ?? null, request_id: c.get('requestId') },
    }, { signedAt: Number(timestamp), value: signature!.trim().toLowerCase() });
    if (result.duplicate) return c.json({ id: result.id, duplicate: true as const }, 200);
    return c.json({ id: result.id, status: 'NEW' as const }, 202);
  });
  return r;
}
