import { $, component$, useContext, useStore } from '@builder.io/qwik';
import { routeLoader$, useLocation, type DocumentHead } from '@builder.io/qwik-city';
import { api } from '../../../../lib/api';
import type { Consultant } from '../../../../lib/model';
import { serverApi } from '../../../../lib/server-api';
import { canManageTeam, ROLE_LABELS, SessionContext, type Role } from '../../../../lib/session';
import { useSession } from '../../layout';

const ROLES: Role[] = ['CONSULTANT', 'MANAGER', 'ADMIN'];

export const useTeam = routeLoader$(async (ev) => {
  const me = await ev.resolveValue(useSession);
  if (!canManageTeam(me.user?.role)) {
    ev.status(403);
    return { ok: false as const, forbidden: true, message: 'Somente gestores e administradores podem ver a equipe.' };
  }
  const r = await serverApi<Consultant[]>(ev, '/api/consultants');
  return r.ok ? { ok: true as const, team: r.data } : { ok: false as const, forbidden: false, message: r.message };
});

export default component$(() => {
  const data = useTeam();
  const location = useLocation();
  if (!data.value.ok) {
    return (
      <section class="card" role="alert" data-testid="team-error">
        <h1>Equipe</h1>
        <p>{data.value.message}</p>
        {!data.value.forbidden && (
          <a class="button" href={location.url.pathname}>
            Tentar novamente
          </a>
        )}
      </section>
    );
  }
  return <Team initial={data.value.team} />;
});

const Team = component$<{ initial: Consultant[] }>(({ initial }) => {
  const session = useContext(SessionContext);
  const state = useStore({ team: initial, message: '', info: '', busy: false }, { deep: true });

  const create = $(async (form: HTMLFormElement) => {
    const f = new FormData(form);
    const capacity = String(f.get('max_open_leads') ?? '').trim();
    state.busy = true;
    state.message = '';
    state.info = '';
    const r = await api<Consultant>('/api/consultants', {
      method: 'POST',
      body: {
        name: String(f.get('name') ?? '').trim(),
        email: String(f.get('email') ?? '').trim(),
        password: String(f.get('password') ?? ''),
        role: String(f.get('role') ?? 'CONSULTANT'),
        ...(capacity ? { max_open_leads: Number(capacity) } : {}),
      },
    });
    state.busy = false;
    if (!r.ok) {
      state.message = r.status === 409 ? 'Já existe alguém com este e-mail.' : r.message;
      return;
    }
    state.team = [...state.team, r.data].sort((a, b) => a.name.localeCompare(b.name, 'pt-BR'));
    state.info = `${r.data.name} foi adicionado à equipe.`;
    form.reset();
  });

  const save = $(async (id: string, form: HTMLFormElement) => {
    const current = state.team.find((c) => c.id === id);
    if (!current) return;
    const f = new FormData(form);
    const patch: Record<string, unknown> = {};
    const role = String(f.get('role') ?? current.role);
    const capacity = Number(f.get('max_open_leads'));
    const active = f.get('active') === 'on';
    if (role !== current.role) patch.role = role;
    if (Number.isFinite(capacity) && capacity !== current.max_open_leads) patch.max_open_leads = capacity;
    if (active !== current.active) patch.active = active;
    state.message = '';
    state.info = '';
    if (Object.keys(patch).length === 0) {
      state.info = 'Nada a alterar.';
      return;
    }
    const r = await api<Consultant>(`/api/consultants/${id}`, { method: 'PATCH', body: patch });
    if (!r.ok) {
      state.message = `${current.name}: ${r.message}`;
      // Back to what the server holds: the refused values must not look saved.
      form.reset();
      for (const el of document.querySelectorAll<HTMLInputElement | HTMLSelectElement>(`[form="edit-${id}"]`)) {
        if (el instanceof HTMLSelectElement) el.value = current.role;
        else if (el.type === 'checkbox') el.checked = current.active;
        else el.value = String(current.max_open_leads);
      }
      return;
    }
    state.team = state.team.map((c) => (c.id === id ? { ...c, ...r.data } : c));
    state.info = `${r.data.name} foi atualizado.`;
  });

  return (
    <div class="stack">
      <h1>Equipe</h1>
      {state.message && (
        <p class="error" role="alert" data-testid="team-message">
          {state.message}
        </p>
      )}
      {state.info && (
        <p class="notice" role="status" data-testid="team-info">
          {state.info}
        </p>
      )}
      <section class="card">
        {state.team.length === 0 ? (
          <p class="empty">Ninguém na equipe ainda.</p>
        ) : (
          <div class="table-wrap">
            <table data-testid="team-table">
              <caption class="muted small" style={{ textAlign: 'left' }}>
                Cada linha pode ser editada; as regras de quem pode mudar o quê são as do servidor.
              </caption>
              <thead>
                <tr>
                  <th scope="col">Nome</th>
                  <th scope="col">Presença</th>
                  <th scope="col">Leads abertos / capacidade</th>
                  <th scope="col">Papel</th>
                  <th scope="col">Capacidade</th>
                  <th scope="col">Ativo</th>
                  <th scope="col">
                    <span class="sr-only">Ações</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {state.team.map((c) => (
                  <tr key={c.id} data-consultant-id={c.id}>
                    <td>
                      <strong>{c.name}</strong>
                      <div class="muted small">{c.email}</div>
                    </td>
                    <td>{c.online ? <span class="online">● online</span> : <span class="muted">offline</span>}</td>
                    <td>
                      {c.open_leads} / {c.max_open_leads}
                    </td>
                    <td>
                      <select name="role" form={`edit-${c.id}`} aria-label={`Papel de ${c.name}`} disabled={c.id === session.user?.id}>
                        {ROLES.map((r) => (
                          <option key={r} value={r} selected={r === c.role}>
                            {ROLE_LABELS[r]}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td>
                      <input
                        type="number"
                        name="max_open_leads"
                        {...{ form: `edit-${c.id}` }}
                        min={0}
                        max={10000}
                        value={c.max_open_leads}
                        aria-label={`Capacidade de ${c.name}`}
                        style={{ width: '6rem' }}
                      />
                    </td>
                    <td>
                      <input type="checkbox" name="active" {...{ form: `edit-${c.id}` }} checked={c.active} aria-label={`${c.name} ativo`} />
                    </td>
                    <td>
                      <form id={`edit-${c.id}`} preventdefault:submit onSubmit$={(_, form: HTMLFormElement) => save(c.id, form)}>
                        <button type="submit" class="button small">
                          Salvar
                        </button>
                      </form>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section class="card" aria-labelledby="new-title">
        <h2 id="new-title">Adicionar pessoa</h2>
        <form class="form-grid" preventdefault:submit onSubmit$={(_, form: HTMLFormElement) => create(form)} data-testid="new-consultant">
          <label>
            <span>Nome</span>
            <input name="name" required maxLength={200} />
          </label>
          <label>
            <span>E-mail</span>
            <input name="email" type="email" required maxLength={254} />
          </label>
          <label>
            <span>Senha inicial (8+ caracteres)</span>
            <input name="password" type="password" required minLength={8} autocomplete="new-password" />
          </label>
          <label>
            <span>Papel</span>
            <select name="role">
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {ROLE_LABELS[r]}
                </option>
              ))}
            </select>
          </label>
          <label>
            <span>Capacidade (leads abertos)</span>
            <input name="max_open_leads" type="number" min={0} max={10000} />
          </label>
          <button type="submit" class="button primary" disabled={state.busy}>
            Adicionar
          </button>
        </form>
      </section>
    </div>
  );
});

export const head: DocumentHead = { title: 'Equipe' };
