// Builds the web app (`npm run build:ui`) when its output is missing, so `npm start`, `npm run
// start:deno` and `npm test` work on a fresh clone. An existing build is kept as it is: after
// changing ui/, run `npm run build:ui` yourself.
//
// Importable (scripts/start.mjs calls ensureUi() in the server's own process, so no shell stands
// between npm and node to swallow signals) and runnable (`node scripts/ensure-ui.mjs`).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// The last files each build step writes: the client manifest, then the server bundle.
const outputs = ['ui/dist/q-manifest.json', 'ui/server/entry.fetch.js'];

/** Builds the UI when missing; returns false (after saying why on stderr) when the build failed. */
export function ensureUi() {
  const missing = outputs.filter((file) => !existsSync(new URL(`../${file}`, import.meta.url)));
  if (missing.length === 0) return true;
  console.log(`ensure-ui: ${missing.join(', ')} missing; running npm run build:ui`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build:ui'], { cwd: root, stdio: 'inherit' });
  if (result.error) {
    console.error(`ensure-ui: could not run npm: ${result.error.message}`);
    return false;
  }
  if (result.status !== 0) {
    console.error(`ensure-ui: npm run build:ui failed (exit ${result.status ?? result.signal})`);
    return false;
  }
  return true;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (!ensureUi()) process.exit(1);
}
