/**
 * `npm run lead:test`: posts one signed test lead to the local server, as a lead source would.
 * Signs with WEBHOOK_SECRET, or else the secret the server generated into $DATA_DIR/secrets.json,
 * and posts to http://localhost:$PORT (PORT 3000, DATA_DIR .data by default).
 *
 * @example
 * npm run lead:test
 * PORT=3001 DATA_DIR=/tmp/livia npm run lead:test
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { signWebhook } from '../src/http/webhook-signature.ts';

const env = z
  .object({
    PORT: z.coerce.number().int().min(1).max(65535).default(3000),
    DATA_DIR: z.string().min(1).default('.data'),
    WEBHOOK_SECRET: z.string().min(16).optional(),
    LEAD_TEST_URL: z.string().url().optional(),
  })
  .parse(Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '')));

async function webhookSecret(): Promise<string> {
  if (env.WEBHOOK_SECRET) return env.WEBHOOK_SECRET;
  const file = join(resolve(env.DATA_DIR), 'secrets.json');
  try {
    const stored = JSON.parse(await readFile(file, 'utf8')) as { webhookSecret?: string };
    if (stored.webhookSecret) return stored.webhookSecret;
  } catch {
    // reported below
  }
  throw new Error(`no webhook secret: set WEBHOOK_SECRET, or start the server once so it writes ${file}`);
}

const names = ['Mariana Souza', 'João Pereira', 'Fernanda Lima', 'Carlos Oliveira', 'Patrícia Santos', 'Rafael Costa'];
const name = names[randomInt(names.length)]!;
const body = JSON.stringify({
  name: `${name} (teste)`,
  phone: `(11) 9${randomInt(1000, 9999)}-${randomInt(1000, 9999)}`,
  email: `${name.split(' ')[0]!.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}.teste@example.com`,
  source: 'site',
  external_id: `lead-test-${Date.now()}`,
  message: 'Quero simular um crédito pessoal de 30 mil',
  requested_amount: 30_000,
  monthly_income: 7_500,
});
const base = env.LEAD_TEST_URL ?? `http://localhost:${env.PORT}`;
const timestamp = Math.floor(Date.now() / 1000);

try {
  const res = await fetch(`${base}/api/webhooks/leads`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-webhook-timestamp': String(timestamp),
      'x-webhook-signature': signWebhook(await webhookSecret(), timestamp, body),
    },
    body,
  });
  const answer = await res.text();
  process.stdout.write(`POST ${base}/api/webhooks/leads → ${res.status} ${answer}\n`);
  if (res.status !== 202) process.exit(1);
  const { id } = JSON.parse(answer) as { id: string };
  process.stdout.write(`The lead: ${base}/leads/${id}\n`);
} catch (err) {
  process.stderr.write(`lead:test failed: ${(err as Error).message}\n`);
  process.exit(1);
}
