/**
 * The HTTP server: the web app (when built), listening, and a close that lets in-flight requests
 * finish before cutting what is left (SSE, keep-alive).
 */
import type { Server as HttpServer } from 'node:http';
import { serve } from '@hono/node-server';
import type { Logger } from '../log.ts';

export const SHUTDOWN_BUDGET_MS = 10_000;

export async function loadWeb(uiDir: string, log: Logger) {
  try {
    const { webRoutes } = await import('../http/web.ts');
    return await webRoutes({ uiDir });
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'web app not available; serving the API only (run npm run build:ui)');
    return undefined;
  }
}

export function listen(fetch: (req: Request, env?: unknown) => Response | Promise<Response>, port: number, hostname: string) {
  return new Promise<HttpServer>((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => resolve(server as HttpServer)) as HttpServer;
    server.once('error', reject);
  });
}

/** Stop accepting, let in-flight requests finish, then cut whatever is left (SSE, keep-alive). */
export function closer(server: HttpServer) {
  return () =>
    new Promise<void>((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_BUDGET_MS / 2);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
}
