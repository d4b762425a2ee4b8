import { describe, expect, it } from 'vitest';
import { signWebhook } from '../src/http/webhook-signature.ts';
import { startTestServer } from './support/server.ts';

describe('lead pipeline smoke', () => {
  it('takes a signed webhook through classification and assignment', async () => {
    const s = await startTestServer({ WEBHOOK_SECRET: 'test-webhook-secret-0123456789' });
    const token = await s.login();
    const c = await s.api('/api/consultants', { token, body: { name: 'Ana', email: 'ana@x.test', password: 'password-123', role: 'CONSULTANT' } });
    expect(c.status).toBe(201);
    const body = JSON.stringify({ name: 'Maria Silva', phone: '(11) 98765-4321', email: 'maria@example.com', message: 'Quero um crédito de 50 mil hoje', requested_amount: 50000, monthly_income: 8000 });
    const ts = Math.floor(Date.now() / 1000);
    const res = await s.api('/api/webhooks/leads', { body, headers: { 'x-webhook-timestamp': String(ts), 'x-webhook-signature': signWebhook('test-webhook-secret-0123456789', ts, body) } });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    let lead: any;
    for (let i = 0; i < 50; i++) {
      lead = await (await s.api(`/api/leads/${id}`, { token })).json();
      if (lead.consultant_id) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(lead.phone).toBe('+5511987654321');
    expect(lead.ai_classifier).toBe('rules');
    expect(lead.consultant?.name).toBe('Ana');
    expect(lead.interactions.map((i: any) => i.type)).toEqual(['created', 'classified', 'assigned']);
  });
});
