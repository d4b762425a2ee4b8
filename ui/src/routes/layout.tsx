import { component$, Slot } from '@builder.io/qwik';
import type { RequestHandler } from '@builder.io/qwik-city';

// Pages are small HTML shells over hashed bundles: revalidate them so a deploy shows up at once.
export const onRequest: RequestHandler = ({ cacheControl }) => {
  cacheControl('no-cache');
};

export default component$(() => <Slot />);
