/**
 * The server entry: Qwik City as a web-standard `fetch` handler, `(Request) => Promise<Response>`,
 * runnable under Node and Deno alike. It is `createQwikCity` of Qwik's cloudflare-pages and deno
 * middlewares minus their platform parts: static files are served by `src/http/web.ts` before a
 * request gets here, and nothing in it touches the network or reads the environment.
 *
 * Built by `vite build --ssr src/entry.fetch.tsx` into `ui/server/entry.fetch.js`.
 */
import { _deserializeData, _serializeData, _verifySerializable } from '@builder.io/qwik';
import { setServerPlatform } from '@builder.io/qwik/server';
import {
  mergeHeadersCookies,
  requestHandler,
  type ClientConn,
  type ServerRequestEvent,
} from '@builder.io/qwik-city/middleware/request-handler';
import qwikCityPlan from '@qwik-city-plan';
import { getNotFound } from '@qwik-city-not-found-paths';
import { isStaticPath } from '@qwik-city-static-paths';
import { manifest } from '@qwik-client-manifest';
import render from './entry.ssr';

declare global {
  /** What `src/http/web.ts` hands to routes, as `requestEvent.platform`. */
  interface QwikCityPlatform {
    /** The request's CSP nonce; `routes/layout.tsx` gives it to Qwik's inline scripts. */
    nonce?: string;
    /** The API in process, for route loaders (`lib/server-api.ts`); absent under `vite dev`. */
    api?: (request: Request) => Response | Promise<Response>;
  }
}

export interface FetchOptions {
  /** The CSP nonce of this response (Hono's `secureHeaders` with `NONCE`), if the policy uses one. */
  nonce?: string;
  /** The API called in process, handed to route loaders as `platform.api`. */
  api?: (request: Request) => Response | Promise<Response>;
  /** The caller's address, as the HTTP server saw it; Qwik City exposes it as `clientConn`. */
  clientConn?: ClientConn;
  /** Values route loaders may read through `env.get()`; none is needed today. */
  env?: Record<string, string | undefined>;
}

const qwikSerializer = { _deserializeData, _serializeData, _verifySerializable };

setServerPlatform(manifest);

/**
 * Renders the page (or runs the route's handlers) for one request.
 *
 * @example
 * const { default: qwikFetch } = await import('./ui/server/entry.fetch.js');
 * const response = await qwikFetch(new Request('http://localhost/login'), { nonce });
 */
export default async function fetch(request: Request, options: FetchOptions = {}): Promise<Response> {
  const url = new URL(request.url);
  const env = options.env ?? {};
  try {
    const serverRequestEv: ServerRequestEvent<Response> = {
      mode: 'server',
      locale: undefined,
      url,
      request,
      env: { get: (key) => env[key] },
      platform: { nonce: options.nonce, api: options.api },
      getClientConn: () => options.clientConn ?? {},
      getWritableStream: (status, headers, cookies, resolve) => {
        const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
        resolve(new Response(readable, { status, headers: mergeHeadersCookies(headers, cookies) }));
        // A browser that leaves mid-page cancels the body; the rest of the page has nowhere to go,
        // which is not an error of ours (unguarded, each pending write would reject unhandled).
        const writer = writable.getWriter();
        return new WritableStream<Uint8Array>({
          write: (chunk) => writer.write(chunk).catch(() => {}),
          close: () => writer.close().catch(() => {}),
          abort: (reason) => writer.abort(reason).catch(() => {}),
        });
      },
    };
    // 'lax-proto': behind a TLS-terminating proxy the request arrives as http:// while the
    // browser's Origin says https://; the host must still match.
    const handled = await requestHandler(
      serverRequestEv,
      { render, qwikCityPlan, manifest, checkOrigin: 'lax-proto' },
      qwikSerializer,
    );
    if (handled) {
      // Completion rejects (with nothing) when the browser goes away while the page still streams,
      // which is normal; anything else is worth a line in the log.
      handled.completion.then(
        (error) => {
          if (error) console.error(error);
        },
        (error: unknown) => {
          if (error !== undefined) console.error(error);
        },
      );
      const response = await handled.response;
      if (response) return response;
    }
    const notFound = isStaticPath(request.method, url) ? 'Not Found' : getNotFound(url.pathname);
    return new Response(notFound, {
      status: 404,
      headers: { 'Content-Type': 'text/html; charset=utf-8' },
    });
  } catch (error) {
    console.error(error);
    return new Response('Internal Server Error', {
      status: 500,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    });
  }
}
