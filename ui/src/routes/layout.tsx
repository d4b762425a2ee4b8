import { component$, Slot } from '@builder.io/qwik';
import type { RequestHandler } from '@builder.io/qwik-city';

export const onRequest: RequestHandler = ({ cacheControl, platform, sharedMap }) => {
  // Pages are small HTML shells over hashed bundles: revalidate them so a deploy shows up at once.
  cacheControl('no-cache');
  // Qwik puts this nonce on the inline scripts it renders, so a nonce-based CSP lets them run.
  if (platform.nonce) sharedMap.set('@nonce', platform.nonce);
};

export default component$(() => <Slot />);
