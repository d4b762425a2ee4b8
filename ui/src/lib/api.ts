/**
 * The API from the browser: same origin, the session cookie attached by the browser, JSON in and
 * out, and the contract's error shape turned into a pt-BR message. A 401 ends the session.
 *
 * @example
 * const r = await api<Lead>(`/api/leads/${id}`, { method: 'PATCH', body: { version, status } });
 * if (!r.ok) showMessage(r.message);
 */
import { sessionEnded } from './session';

export type ApiResult<T> =
  | { ok: true; status: number; data: T }
  | { ok: false; status: number; code: string; message: string };

interface ApiErrorBody {
  error?: { code?: string; message?: string; details?: unknown };
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<ApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? 'GET',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    return { ok: false, status: 0, code: 'network', message: 'Não foi possível falar com o servidor. Verifique sua conexão.' };
  }
  if (response.status === 401) sessionEnded();
  if (response.ok) {
    const data = response.status === 204 ? (undefined as T) : ((await response.json()) as T);
    return { ok: true, status: response.status, data };
  }
  let body: ApiErrorBody = {};
  try {
    body = (await response.json()) as ApiErrorBody;
  } catch {
    // Not JSON (a proxy's page): the status alone gives the message.
  }
  return { ok: false, status: response.status, code: body.error?.code ?? 'error', message: errorMessage(response.status, body) };
}

/** A pt-BR message for an API error, with the API's own details where they help. */
export function errorMessage(status: number, body: ApiErrorBody = {}): string {
  // `details` is a list of field problems on a 422, and may be anything else elsewhere (a 503's retry hint).
  const details = body.error?.details;
  const detail = Array.isArray(details) ? (details as { path?: string; message?: string }[]).map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join('; ') : '';
  switch (status) {
    case 401:
      return 'Sua sessão terminou. Entre novamente.';
    case 403:
      return `Você não tem permissão para isso${body.error?.message ? ` (${body.error.message})` : ''}.`;
    case 404:
      return 'Não encontrado, ou você não pode ver isto.';
    case 409:
      return 'Outra pessoa alterou isto antes de você. Os dados foram recarregados; tente de novo.';
    case 422:
      return `Alteração não permitida: ${detail || body.error?.message || 'dados inválidos'}.`;
    case 429:
      return 'Muitas requisições. Aguarde um pouco e tente novamente.';
    default:
      return 'Algo deu errado no servidor. Tente novamente em instantes.';
  }
}
