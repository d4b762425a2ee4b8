import { describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.ts';

describe('a server on an external PostgreSQL (DATABASE_URL)', () => {
  it('is ready and answers /health', async () => {
    const s = await startTestServer();
    const ready = await s.api('/ready');
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, { status: string }> }).checks.database?.status).toBe('ok');
    const health = await s.api('/health');
    expect(await health.json()).toEqual({ status: 'ok' });
  });
});
