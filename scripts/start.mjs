// `npm start` and `npm run start:deno`: the web app's build check, then the server, in ONE process.
// npm's `sh -c` then runs a single command (exec'd), so SIGTERM/SIGINT to the process group
// reach node itself, which stops cleanly and exits 0.
import { ensureUi } from './ensure-ui.mjs';

if (!ensureUi()) process.exit(1);
const { main } = await import('../src/main.ts');
await main();
