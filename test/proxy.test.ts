/**
 * Behind a reverse proxy the client address comes from X-Forwarded-For, but only as many hops as
 * configured are trusted; without TRUST_PROXY_HOPS the header is ignored (it could be forged).
 */
import { describe, expect, it } from 'vitest';
import { startTestServer } from './support/server.ts';

async function burst(s: Awaited<ReturnType<typeof startTestServer>>, forwardedFor: string, n: number) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await s.api('/health', { headers: { 'x-forwarded-for': forwardedFor } })).status);
  return statuses;
}

describe('client address for rate limits', () => {
  it('with TRUST_PROXY_HOPS=1, each forwarded client has its own budget', async () => {
    const s = await startTestServer({ RATE_LIMIT_PER_MINUTE: '3', TRUST_PROXY_HOPS: '1' });
    expect(await burst(s, '203.0.113.7', 4)).toEqual([200, 200, 200, 429]);
    // Another client behind the same proxy is not affected…
    expect(await burst(s, '203.0.113.8', 3)).toEqual([200, 200, 200]);
    // …and a forged left part does not buy a fresh budget: the proxy's own entry is what counts.
    expect(await burst(s, '198.51.100.1, 203.0.113.7', 1)).toEqual([429]);
  });

  it('without trusted proxies, X-Forwarded-For is ignored', async () => {
    const s = await startTestServer({ RATE_LIMIT_PER_MINUTE: '3' });
    expect(await burst(s, '203.0.113.7', 2)).toEqual([200, 200]);
    expect(await burst(s, '203.0.113.8', 2)).toEqual([200, 429]);
  });
});
