import { component$, useContext } from '@builder.io/qwik';
import type { DocumentHead } from '@builder.io/qwik-city';
import { SessionContext } from '../../lib/session';

/** Home of a signed-in user; the Kanban of leads will live here. */
export default component$(() => {
  const session = useContext(SessionContext);

  return (
    <section class="card">
      <h1>{session.user ? `Olá, ${session.user.name.split(' ')[0]}!` : 'Olá!'}</h1>
      <p class="muted">Seu quadro de leads aparecerá aqui em breve.</p>
    </section>
  );
});

export const head: DocumentHead = {
  title: 'Início',
};
