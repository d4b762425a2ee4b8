import { renderToStream, type RenderToStreamOptions } from '@builder.io/qwik/server';
import Root from './root';

/** Renders the app to a stream; used by `entry.fetch.tsx` in production and by Vite's dev server. */
export default function render(opts: RenderToStreamOptions) {
  return renderToStream(<Root />, {
    ...opts,
    containerAttributes: { lang: 'pt-BR', ...opts.containerAttributes },
    serverData: { ...opts.serverData },
    // No speculative preloading of event-handler bundles: before the first interaction a page
    // downloads only what it runs (Qwik's core and the live connection); a handler's bundle comes
    // with its first use (a few KB each, cached from then on). See bench/ui.ts.
    preloader: false,
  });
}
