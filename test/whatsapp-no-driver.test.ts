/**
 * WHATSAPP_DRIVER=baileys before the Baileys driver module exists: the server starts, every session is
 * `failed` with the reason in the API and /ready (visible, not silent), and the simulator's routes
 * answer 404 even to an admin. Skipped once src/actors/whatsapp/baileys-driver.ts is there (that
 * driver would try to reach WhatsApp).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.ts';

const hasBaileys = existsSync(fileURLToPath(new URL('../src/actors/whatsapp/baileys-driver.ts', import.meta.url)));

describe.skipIf(hasBaileys)('without a Baileys driver', () => {
  it('starts, reports every session failed ("driver not available"), and hides the simulator', async () => {
    const s = await startTestServer({ WHATSAPP_DRIVER: 'baileys', WHATSAPP_SESSIONS: 'consultant,livia,extra' });
    const admin = await s.login();
    const sessions = (await (await s.api('/api/whatsapp/sessions', { token: admin })).json()) as { name: string; status: string; reason?: string }[];
    expect(sessions.map((x) => x.name)).toEqual(['consultant', 'livia', 'extra']);
    for (const x of sessions) {
      expect(x.status).toBe('failed');
      expect(x.reason).toMatch(/^driver not available/);
    }
    const ready = (await (await s.api('/ready')).json()) as { checks: { whatsapp: { status: string; driver: string; sessions: Record<string, string> } } };
    expect(ready.checks.whatsapp).toMatchObject({ status: 'down', driver: 'unavailable', sessions: { consultant: 'failed', livia: 'failed', extra: 'failed' } });
    expect((await s.api('/api/simulator/messages', { token: admin, body: { session: 'consultant', from: '+5511987654321', text: 'x' } })).status).toBe(404);
    expect((await s.api('/api/simulator/messages?to=%2B5511987654321', { token: admin })).status).toBe(404);
    expect((await s.api('/api/whatsapp/chats', { token: admin })).status).toBe(200);
  });
});
