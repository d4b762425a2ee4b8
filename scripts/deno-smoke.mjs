// Proves the server runs on Deno: start `src/main.ts` under the npm-installed Deno binary on a
// fresh embedded database, wait for /ready, sign in, open a Socket.io connection, then SIGTERM
// and expect a clean exit. Used by .ci/run.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const dataDir = mkdtempSync(join(tmpdir(), 'livia-deno-'));
const password = 'deno-smoke-password';
// The default (Baileys) driver is loaded under Deno too, but pointed at a closed local port with
// its bundled WA Web version: a smoke test talks to nothing outside this machine.
const env = {
  ...process.env,
  PORT: String(port),
  DATA_DIR: dataDir,
  ADMIN_PASSWORD: password,
  LOG_LEVEL: 'warn',
  WHATSAPP_WA_VERSION: 'bundled',
  WHATSAPP_WS_URL: 'ws://127.0.0.1:9/ws/chat',
};
delete env.DATABASE_URL;
const child = spawn('node_modules/.bin/deno', ['run', '-A', 'src/main.ts'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
const base = `http://127.0.0.1:${port}`;

function fail(message) {
  console.error(`deno smoke: ${message}`);
  child.kill('SIGKILL');
  process.exit(1);
}

const deadline = Date.now() + 120_000;
for (;;) {
  if (Date.now() > deadline) fail('/ready did not answer 200 within 120 s');
  const ok = await fetch(`${base}/ready`).then((r) => r.status === 200, () => false);
  if (ok) break;
  await new Promise((r) => setTimeout(r, 500));
}
const login = await fetch(`${base}/api/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email: 'admin@example.com', password }),
});
if (login.status !== 200) fail(`login answered ${login.status}`);
const { token } = await login.json();
await new Promise((resolve) => {
  const socket = io(base, { auth: { token }, transports: ['websocket'], reconnection: false });
  socket.on('connect', () => {
    socket.close();
    resolve();
  });
  socket.on('connect_error', (err) => fail(`socket.io connect_error: ${err.message}`));
});
child.kill('SIGTERM');
const { code } = await exited;
rmSync(dataDir, { recursive: true, force: true });
if (code !== 0) fail(`exit code ${code} after SIGTERM`);
console.log('deno smoke: ready, signed in, socket.io connected, clean shutdown');
