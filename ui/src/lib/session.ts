/**
 * The signed-in session as the browser keeps it: the JWT from `POST /api/auth/login`, stored in
 * localStorage (read by the app's own API calls and the Socket.io handshake) and mirrored in a cookie
 * (read by the server, so signed-in pages can redirect to `/login` before rendering anything).
 *
 * Everything here runs in the browser only.
 */
import { createContextId } from '@builder.io/qwik';
// Type-only, so nothing of the server's module (nor zod) reaches the browser bundle.
import type { Role } from '../../../src/domain/roles.ts';

export type { Role };

export const ROLE_LABELS: Record<Role, string> = {
  ADMIN: 'Administrador',
  MANAGER: 'Gestor',
  CONSULTANT: 'Consultor',
};

/** The user as `GET /api/auth/me` and `POST /api/auth/login` return it. */
export interface User {
  id: string;
  name: string;
  email: string;
  role: Role;
}

export const TOKEN_STORAGE_KEY = 'livia.token';
export const TOKEN_COOKIE = 'livia_token';

/** The token saved at login, or null when signed out. */
export function readToken(): string | null {
  const stored = localStorage.getItem(TOKEN_STORAGE_KEY);
  if (stored) return stored;
  const cookie = document.cookie
    .split('; ')
    .find((part) => part.startsWith(`${TOKEN_COOKIE}=`));
  return cookie ? decodeURIComponent(cookie.slice(TOKEN_COOKIE.length + 1)) : null;
}

export function saveToken(token: string): void {
  localStorage.setItem(TOKEN_STORAGE_KEY, token);
  const expiresAt = jwtExpiry(token);
  const attributes = [
    'Path=/',
    'SameSite=Lax',
    // Without an expiry the cookie lives for the browser session; with one it dies with the token.
    ...(expiresAt ? [`Expires=${expiresAt.toUTCString()}`] : []),
    ...(location.protocol === 'https:' ? ['Secure'] : []),
  ];
  document.cookie = `${TOKEN_COOKIE}=${encodeURIComponent(token)}; ${attributes.join('; ')}`;
}

export function clearToken(): void {
  localStorage.removeItem(TOKEN_STORAGE_KEY);
  document.cookie = `${TOKEN_COOKIE}=; Path=/; SameSite=Lax; Max-Age=0`;
}

/** The `exp` claim of a JWT, read without verifying it (the server verifies; this only sizes the cookie). */
function jwtExpiry(token: string): Date | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp: unknown = JSON.parse(json).exp;
    return typeof exp === 'number' ? new Date(exp * 1000) : null;
  } catch {
    return null;
  }
}

export type LoginResult = { ok: true; token: string; user: User } | { ok: false; message: string };

/** Signs in through `POST /api/auth/login`; failures come back as a pt-BR message for the form. */
export async function login(email: string, password: string): Promise<LoginResult> {
  let response: Response;
  try {
    response = await fetch('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  } catch {
    return { ok: false, message: 'Não foi possível falar com o servidor. Verifique sua conexão.' };
  }
  if (response.ok) {
    const body = (await response.json()) as { token: string; user: User };
    return { ok: true, token: body.token, user: body.user };
  }
  return { ok: false, message: loginErrorMessage(response) };
}

function loginErrorMessage(response: Response): string {
  switch (response.status) {
    case 401:
      return 'E-mail ou senha inválidos.';
    case 429: {
      const seconds = Number(response.headers.get('Retry-After'));
      return Number.isFinite(seconds) && seconds > 0
        ? `Muitas tentativas de login. Aguarde ${Math.ceil(seconds)} s e tente novamente.`
        : 'Muitas tentativas de login. Aguarde um pouco e tente novamente.';
    }
    case 400:
    case 422:
      return 'Confira o e-mail e a senha informados.';
    default:
      return 'Algo deu errado no servidor. Tente novamente em instantes.';
  }
}

export type CurrentUserResult =
  | { kind: 'user'; user: User }
  | { kind: 'unauthorized' }
  | { kind: 'error'; message: string };

/** Who the token belongs to, through `GET /api/auth/me`. */
export async function fetchCurrentUser(token: string): Promise<CurrentUserResult> {
  try {
    const response = await fetch('/api/auth/me', {
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    });
    if (response.status === 401) return { kind: 'unauthorized' };
    if (!response.ok) {
      return { kind: 'error', message: 'Não foi possível carregar sua sessão. Tente recarregar a página.' };
    }
    return { kind: 'user', user: (await response.json()) as User };
  } catch {
    return { kind: 'error', message: 'Não foi possível falar com o servidor. Verifique sua conexão.' };
  }
}

/** What signed-in pages know about the session; provided by `routes/(app)/layout.tsx`. */
export interface SessionState {
  status: 'loading' | 'ready' | 'error';
  user: User | null;
  message: string;
}

export const SessionContext = createContextId<SessionState>('livia.session');
