import { renderToStream, type RenderToStreamOptions } from '@builder.io/qwik/server';
import Root from './root';

/** Renders the app to a stream; used by `entry.fetch.tsx` in production and by Vite's dev server. */
export default function render(opts: RenderToStreamOptions) {
  return renderToStream(<Root />, {
    ...opts,
    containerAttributes: { lang: 'pt-BR', ...opts.containerAttributes },
    serverData: { ...opts.serverData },
  });
}
