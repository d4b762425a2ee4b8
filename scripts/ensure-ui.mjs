// Builds the web app (`npm run build:ui`) when its output is missing, so `npm start`, `npm run
// start:deno` and `npm test` work on a fresh clone. An existing build is kept as it is: after
// changing ui/, run `npm run build:ui` yourself.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// The last files each build step writes: the client manifest, then the server bundle.
const outputs = ['ui/dist/q-manifest.json', 'ui/server/entry.fetch.js'];
const missing = outputs.filter((file) => !existsSync(new URL(`../${file}`, import.meta.url)));

if (missing.length > 0) {
  console.log(`ensure-ui: ${missing.join(', ')} missing; running npm run build:ui`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['run', 'build:ui'], { cwd: root, stdio: 'inherit' });
  if (result.error) {
    console.error(`ensure-ui: could not run npm: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error(`ensure-ui: npm run build:ui failed (exit ${result.status ?? result.signal})`);
    process.exit(result.status || 1);
  }
}
