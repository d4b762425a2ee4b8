/**
 * Lívia with Groq inside the whole server, through the WhatsApp simulator: groq-sdk talks to a fake
 * OpenAI-compatible server on 127.0.0.1 (`GROQ_BASE_URL`). The customer's second answer is a voice
 * note, transcribed by the fake Whisper endpoint and answered like text; the model's replies are
 * used where they quote nothing, its readings pass the same validation, and the dialogue reaches
 * TRANSFERRED with the lead created and assigned.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, waitFor } from './lead-helpers.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const nulls = { name: null, purpose: null, requested_amount: null, monthly_income: null, term_months: null, answer: null };
/** What the fake model answers, by a phrase of the customer's latest words. */
const MODEL: [string, { reply: string; extracted: Record<string, unknown>; intent: string }][] = [
  ['Carla Souza', { reply: 'Oi, Carla! Que bom falar com você. Para que você precisa do crédito?', extracted: { name: 'Carla Souza' }, intent: 'answer' }],
  ['reformar a casa', { reply: 'Ótimo objetivo! E qual valor você gostaria?', extracted: { purpose: 'reforma da casa' }, intent: 'answer' }],
  // An invented figure: the customer wrote 30 mil.
  ['30 mil', { reply: 'Anotado!', extracted: { requested_amount: 90_000 }, intent: 'answer' }],
  // A turn that collects nothing: the model's own words go out.
  ['deixa eu pensar', { reply: 'Sem pressa! Quando quiser, me conte quanto você ganha por mês.', extracted: {}, intent: 'other' }],
];

let fake: Server;
const seen: { path: string; body: string }[] = [];
let s: TestServer;
let admin: string;

beforeAll(async () => {
  fake = createServer((req, res) => {
    let raw = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = Buffer.from(raw, 'latin1').toString('utf8');
      seen.push({ path: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/openai/v1/audio/transcriptions') return res.end(JSON.stringify({ text: ' quero reformar a casa ' }));
      const json = JSON.parse(body) as { messages: { content: string }[]; response_format?: { json_schema?: { schema?: { required?: string[] } } } };
      // The lead classifier asks too: refused, so it scores by its rules.
      if (json.response_format?.json_schema?.schema?.required?.join() !== 'reply,extracted,intent') {
        res.statusCode = 400;
        return res.end(JSON.stringify({ error: { message: 'not this one', type: 'test' } }));
      }
      // The transcript so far: the phrase said last is the one being answered.
      const last = json.messages.at(-1)!.content;
      const latest = MODEL.map(([phrase, d]) => ({ at: last.lastIndexOf(phrase), d })).sort((a, b) => b.at - a.at)[0]!;
      const hit = latest.at >= 0 ? latest.d : { reply: 'Entendi!', extracted: {}, intent: 'answer' };
      const content = JSON.stringify({ ...hit, extracted: { ...nulls, ...hit.extracted } });
      res.end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }));
    });
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  s = await startTestServer({
    GROQ_API_KEY: 'test-key',
    GROQ_BASE_URL: url,
    GROQ_MODEL: 'm',
    LIVIA_BURST_MS: '0',
    LIVIA_TYPING_MS_PER_CHAR: '0',
    LIVIA_BRAIN_TIMEOUT_MS: '3000',
    WHATSAPP_SEND_PER_MINUTE: '10000',
  });
  admin = await s.login();
  await createUser(s, admin, { name: 'Rafael Lima', max_open_leads: 50 });
}, 60_000);

afterAll(async () => {
  await s?.stop();
  fake?.closeAllConnections();
  await new Promise((r) => fake?.close(r));
});

const wire = async (phone: string) =>
  (await (await s.api(`/api/simulator/messages?to=${encodeURIComponent(phone)}`, { token: admin })).json()) as { text: string }[];

async function say(phone: string, text: string, media?: { type: string; mime: string; base64: string }): Promise<string> {
  const before = (await wire(phone)).length;
  const res = await s.api('/api/simulator/messages', { token: admin, body: { session: 'livia', from: phone, text, ...(media ? { media } : {}) } });
  expect(res.status).toBe(202);
  const w = await waitFor(`an answer to "${text}"`, async () => {
    const x = await wire(phone);
    return x.length > before && x;
  });
  return w.at(-1)!.text;
}

describe('Lívia with groq-sdk on the server', () => {
  it('a dialogue with a voice note reaches TRANSFERRED; the model speaks where it may, decides nothing', { timeout: 90_000 }, async () => {
    const phone = '+5511987659101';
    // The stage changes on this turn (INTRO → QUALIFICATION), so the script speaks; the model read the name.
    expect(await say(phone, 'Oi, aqui é a Carla Souza')).toMatch(/Carla/);
    const ogg = Buffer.from('OggS voice note').toString('base64');
    // The voice note, transcribed, is the purpose: Lívia asks the amount next.
    expect(await say(phone, '', { type: 'voice', mime: 'audio/ogg; codecs=opus', base64: ogg })).toMatch(/Qual valor/);
    expect(seen.some((r) => r.path === '/openai/v1/audio/transcriptions' && r.body.includes('name="language"\r\n\r\npt'))).toBe(true);
    await say(phone, 'uns 30 mil');
    expect(await say(phone, 'hmm, deixa eu pensar')).toBe('Sem pressa! Quando quiser, me conte quanto você ganha por mês.');
    for (const text of ['ganho 5 mil', 'em 24x', 'sim', 'pode sim']) await say(phone, text);

    const conv = await waitFor('TRANSFERRED with its lead', async () => {
      const list = (await (await s.api('/api/conversations?stage=TRANSFERRED', { token: admin })).json()) as { phone: string; lead_id: string | null; data: Record<string, unknown>; id: string }[];
      return list.find((c) => c.phone === phone && c.lead_id);
    });
    // The invented 90 mil never got in: the customer wrote 30 mil.
    expect(conv.data).toMatchObject({ name: 'Carla Souza', requested_amount: 30_000, monthly_income: 5_000 });
    const detail = (await (await s.api(`/api/conversations/${conv.id}`, { token: admin })).json()) as { messages: { role: string; text: string }[] };
    expect(detail.messages.filter((m) => m.role === 'customer').map((m) => m.text)).toContain('quero reformar a casa');
    // Linked as soon as it is stored; classified (by the model here) and assigned right after.
    const lead = await waitFor('the lead assigned', async () => {
      const l = (await (await s.api(`/api/leads/${conv.lead_id}`, { token: admin })).json()) as { source: string; consultant_id: string | null };
      return l.consultant_id !== null && l;
    });
    expect(lead.source).toBe('livia');
    expect(seen.filter((r) => r.path === '/openai/v1/chat/completions').length).toBeGreaterThanOrEqual(7);
  });
});
