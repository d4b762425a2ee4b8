/**
 * A real server (real HTTP port, real database, real pg-boss) in the test process.
 *
 * @example
 * const s = await startTestServer();
 * const res = await fetch(`${s.url}/api/auth/me`, { headers: { authorization: `Bearer ${await s.login()}` } });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/main.ts';
import { afterFile, createTestDatabase } from './db.ts';

export interface TestServer {
  url: string;
  /** The server's own database (created for it). */
  databaseUrl: string;
  server: RunningServer;
  admin: { email: string; password: string; name: string };
  /** Signs in (the admin by default) and returns the token. */
  login(email?: string, password?: string): Promise<string>;
  /** fetch with JSON body and optional bearer token. */
  api(path: string, init?: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> }): Promise<Response>;
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const databaseUrl = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'livia-data-'));
  afterFile(() => rm(dataDir, { recursive: true, force: true }));
  const admin = { email: 'admin@livia.test', password: 'admin-password-1', name: 'Administrador' };
  const server = await startServer({
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    WHATSAPP_DRIVER: 'simulator',
    ...env,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop();
  };
  afterFile(stop);
  const api: TestServer['api'] = (path, init = {}) =>
    fetch(`${server.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...init.headers,
      },
      body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
    });
  return {
    url: server.url,
    databaseUrl,
    server,
    admin,
    api,
    async login(email = admin.email, password = admin.password) {
      const res = await api('/api/auth/login', { body: { email, password } });
      if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    stop,
  };
}
