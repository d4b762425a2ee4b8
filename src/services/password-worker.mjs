// The worker side of src/services/passwords.ts: bcryptjs hashes and compares here, off the main
// thread, so a burst of sign-ins does not stall the event loop the actors and requests share.
// Plain JavaScript so it loads the same under tsx, vitest and Deno.
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

parentPort.on('message', async ({ id, op, a, b }) => {
  try {
    const result = op === 'hash' ? await bcrypt.hash(a, b) : await bcrypt.compare(a, b);
    parentPort.postMessage({ id, result });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message ? err.message : err) });
  }
});
