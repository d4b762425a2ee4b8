/**
 * The signed-in session as the web app sees it. The session token lives in an httpOnly cookie set
 * by `POST /api/auth/login` with `session: "cookie"`: no script here ever reads or stores it. Pages
 * learn who is signed in from their server-side loader (`routes/(app)/layout.tsx`).
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

/** The cookie the server sets at sign-in (httpOnly: readable by the server only). */
export const SESSION_COOKIE = 'livia_session';

/** Why `/login` was opened, shown above the form. */
export const LOGIN_REASONS = {
  expired: 'Sua sessão expirou ou foi encerrada. Entre novamente.',
  signed_out: 'Você saiu da sua conta.',
} as const;
export type LoginReason = keyof typeof LOGIN_REASONS;

/** The user as `GET /api/auth/me` and `POST /api/auth/login` return it. */
export interface User {
  id: string;
  name: string;
  email: string;
  role: Role;
}

export const canManageTeam = (role: Role | undefined) => role === 'ADMIN' || role === 'MANAGER';

export type LoginResult = { ok: true; user: User } | { ok: false; message: string };

/** Signs in through `POST /api/auth/login`; failures come back as a pt-BR message for the form. */
export async function login(email: string, password: string): Promise<LoginResult> {
  let response: Response;
  try {
    response = await fetch('/api/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email, password, session: 'cookie' }),
    });
  } catch {
    return { ok: false, message: 'Não foi possível falar com o servidor. Verifique sua conexão.' };
  }
  if (response.ok) {
    const body = (await response.json()) as { user: User };
    return { ok: true, user: body.user };
  }
  return { ok: false, message: loginErrorMessage(response) };
}

/** Signs out (the server revokes the session and clears the cookie), then opens `/login`. */
export async function logout(): Promise<void> {
  // The server closes this session's socket as it revokes it: that is us leaving, not an expiry.
  document.documentElement.dataset.signingOut = '1';
  try {
    await fetch('/api/auth/logout', { method: 'POST', credentials: 'same-origin' });
  } finally {
    location.assign('/login?reason=signed_out');
  }
}

/** The session ended under us (expired, revoked, account deactivated): back to `/login`. */
export function sessionEnded(): void {
  if (document.documentElement.dataset.signingOut) return;
  if (location.pathname !== '/login') location.assign('/login?reason=expired');
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

/** What signed-in pages know about the session; provided by `routes/(app)/layout.tsx`. */
export interface SessionState {
  user: User | null;
}

export const SessionContext = createContextId<SessionState>('livia.session');
