import { $, component$, useSignal } from '@builder.io/qwik';
import { useLocation, useNavigate, type DocumentHead } from '@builder.io/qwik-city';
import { login, LOGIN_REASONS, type LoginReason } from '../../lib/session';

export default component$(() => {
  const nav = useNavigate();
  const reason = useLocation().url.searchParams.get('reason');
  const notice = reason && reason in LOGIN_REASONS ? LOGIN_REASONS[reason as LoginReason] : '';
  const error = useSignal('');
  const submitting = useSignal(false);

  const submit = $(async (_event: SubmitEvent, form: HTMLFormElement) => {
    if (submitting.value) return;
    const data = new FormData(form);
    submitting.value = true;
    error.value = '';
    const result = await login(String(data.get('email') ?? '').trim(), String(data.get('password') ?? ''));
    if (!result.ok) {
      submitting.value = false;
      error.value = result.message;
      return;
    }
    await nav('/');
  });

  return (
    <main class="login">
      {/* method="post" so that, should the script fail, the password never lands in a URL. */}
      <form class="card login-card" method="post" preventdefault:submit onSubmit$={submit}>
        <h1 class="brand">Lívia</h1>
        <p class="muted">Entre com seu e-mail e senha para acessar seus leads.</p>
        {notice && (
          <p class="notice" role="status" data-testid="login-notice">
            {notice}
          </p>
        )}

        <label class="field">
          <span>E-mail</span>
          <input
            name="email"
            type="email"
            autocomplete="username"
            required
            autofocus
            data-testid="login-email"
          />
        </label>

        <label class="field">
          <span>Senha</span>
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            data-testid="login-password"
          />
        </label>

        {error.value && (
          <p class="error" role="alert" data-testid="login-error">
            {error.value}
          </p>
        )}

        <button type="submit" class="button primary" disabled={submitting.value} data-testid="login-submit">
          {submitting.value ? 'Entrando…' : 'Entrar'}
        </button>
      </form>
    </main>
  );
});

export const head: DocumentHead = {
  title: 'Entrar',
};
