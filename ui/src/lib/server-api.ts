/**
 * The API from a page's server-side loader: called in process (see `src/http/web.ts`) with the
 * page request's cookie, so the loader sees exactly what the signed-in user may see.
 *
 * @example
 * export const useLead = routeLoader$((ev) => serverApi<Lead>(ev, `/api/leads/${ev.params.id}`));
 */
import type { RequestEventBase } from '@builder.io/qwik-city';
import { errorMessage, type ApiResult } from './api';

export async function serverApi<T>(ev: RequestEventBase, path: string): Promise<ApiResult<T>> {
  const request = new Request(new URL(path, ev.url), {
    headers: {
      accept: 'application/json',
      cookie: ev.request.headers.get('cookie') ?? '',
      'user-agent': ev.request.headers.get('user-agent') ?? '',
    },
  });
  let response: Response;
  try {
    response = ev.platform.api ? await ev.platform.api(request) : await fetch(request);
  } catch {
    return { ok: false, status: 0, code: 'network', message: 'Não foi possível falar com o servidor.' };
  }
  if (response.ok) return { ok: true, status: response.status, data: (await response.json()) as T };
  let body = {};
  try {
    body = (await response.json()) as object;
  } catch {
    // The status alone gives the message.
  }
  return { ok: false, status: response.status, code: 'error', message: errorMessage(response.status, body) };
}
