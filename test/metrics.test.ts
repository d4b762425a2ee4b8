/**
 * /metrics in production: off without METRICS_TOKEN, and behind it as a bearer token when set;
 * what it carries: database pool usage, real-time connections, pipeline step latency, job queue
 * depth.
 */
import { io as connectClient } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { requestPoolName } from '../src/db/bootstrap.ts';
import { createSql } from '../src/db/client.ts';
import { signWebhook } from '../src/http/webhook-signature.ts';
import { startTestServer } from './support/server.ts';

const PRODUCTION = {
  NODE_ENV: 'production',
  JWT_SECRET: 'a-production-jwt-secret-of-enough-length-123',
  WEBHOOK_SECRET: 'a-production-webhook-secret-456',
};
const METRICS_TOKEN = 'scrape-me-with-this-token-789';

describe('/metrics in production', () => {
  it('without METRICS_TOKEN it is off: 404 to anyone, signed in or not', async () => {
    const s = await startTestServer(PRODUCTION);
    expect((await s.api('/metrics')).status).toBe(404);
    expect((await s.api('/metrics', { token: await s.login() })).status).toBe(404);
    await s.stop();
  });

  it('with METRICS_TOKEN: refused without it or with a user token, and carries what operators watch', async () => {
    const s = await startTestServer({ ...PRODUCTION, METRICS_TOKEN, INSTANCE_ID: 'metrics-a', DB_POOL_MAX: '4' });
    // Another instance's request pool on the same database, with more connections open than ours
    // may ever have: not counted here.
    const other = createSql(s.databaseUrl, { max: 6, applicationName: requestPoolName('metrics-b') });
    await Promise.all(Array.from({ length: 6 }, () => other`select pg_sleep(0.05)`));
    const none = await s.api('/metrics');
    expect(none.status).toBe(401);
    expect(await none.text()).not.toMatch(/process_cpu/);
    expect((await s.api('/metrics', { headers: { authorization: 'Bearer not-the-metrics-token-000' } })).status).toBe(401);
    const token = await s.login();
    expect((await s.api('/metrics', { token })).status).toBe(401);

    // A socket open, and a lead through the pipeline, so there is something to count.
    const socket = connectClient(s.url, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    const body = JSON.stringify({ name: 'Métrica', email: 'metrica@x.test' });
    const ts = Math.floor(Date.now() / 1000);
    const lead = await s.api('/api/webhooks/leads', {
      body,
      headers: { 'x-webhook-timestamp': String(ts), 'x-webhook-signature': signWebhook(PRODUCTION.WEBHOOK_SECRET, ts, body) },
    });
    expect(lead.status).toBe(202);

    let text = '';
    const deadline = Date.now() + 10_000;
    do {
      await new Promise((r) => setTimeout(r, 100));
      const res = await s.api('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(res.status).toBe(200);
      text = await res.text();
    } while (!/pipeline_step_duration_seconds_count\{instance="metrics-a",step="assign"\} [1-9]/.test(text) && Date.now() < deadline);
    socket.disconnect();
    await other.end();
    await s.stop();

    // Per instance: every series carries this instance's INSTANCE_ID.
    expect(text).toMatch(/process_cpu_user_seconds_total\{instance="metrics-a"\} /);
    expect(text).toMatch(/db_pool_connections\{state="max",instance="metrics-a"\} \d+/);
    expect(text).toMatch(/db_pool_connections\{state="max",instance="metrics-a"\} 4\b/);
    expect(Number(text.match(/db_pool_connections\{state="open",instance="metrics-a"\} (\d+)/)?.[1])).toBeGreaterThan(0);
    expect(Number(text.match(/db_pool_connections\{state="open",instance="metrics-a"\} (\d+)/)?.[1])).toBeLessThanOrEqual(4);
    expect(text).toMatch(/realtime_connections\{kind="socket",instance="metrics-a"\} 1\b/);
    expect(text).toMatch(/realtime_connections\{kind="sse",instance="metrics-a"\} 0\b/);
    expect(text).toMatch(/pipeline_step_duration_seconds_count\{instance="metrics-a",step="classify"\} [1-9]/);
    expect(text).toMatch(/pipeline_step_duration_seconds_count\{instance="metrics-a",step="assign"\} [1-9]/);
    expect(text).toMatch(/job_queue_depth\{queue="[^"]+",instance="metrics-a"\} \d+/);
    // Every intake statement has been answered (its value while one hangs: test/pipeline-races.test.ts).
    expect(text).toMatch(/pipeline_intake_waiting_seconds\{instance="metrics-a"\} 0\b/);
  });
});
