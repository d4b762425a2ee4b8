/**
 * Vite config for the Qwik City app. Run from `ui/` (the root `npm run build:ui` does that):
 *
 * - `vite build` writes the browser build to `dist/` (hashed chunks in `dist/build/`, CSS in
 *   `dist/assets/`, and `q-manifest.json`, which the server build reads).
 * - `vite build --ssr src/entry.fetch.tsx` writes `server/entry.fetch.js`, a fetch-style handler that
 *   `src/http/web.ts` imports at run time. Everything is bundled into it (`noExternal: true`), so it
 *   loads the same way under Node and Deno without resolving `@builder.io/*` from node_modules.
 */
import { defineConfig, type UserConfig } from 'vite';
import { qwikVite } from '@builder.io/qwik/optimizer';
import { qwikCity } from '@builder.io/qwik-city/vite';

export default defineConfig(({ isSsrBuild }): UserConfig => ({
  plugins: [qwikCity({ trailingSlash: false }), qwikVite()],
  ...(isSsrBuild
    ? {
        // The bundle runs outside Vite, where nothing replaces process.env.NODE_ENV.
        define: { 'process.env.NODE_ENV': JSON.stringify('production') },
        ssr: { noExternal: true },
        build: { target: 'es2022', minify: false },
        publicDir: false,
      }
    : {}),
}));
