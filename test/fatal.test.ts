/**
 * The last resort (src/fatal.ts): an exception nothing caught, or a rejection nobody handled, is
 * logged and the process exits non-zero at once, instead of going on in a state nobody planned.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

function run(code: string): Promise<{ code: number | null; out: string }> {
  const script = `
import { exitOnFatalErrors } from './src/fatal.ts';
import { createLogger } from './src/log.ts';
exitOnFatalErrors(createLogger('info'));
${code}
setTimeout(() => { console.log('still running'); process.exit(0); }, 2000);
`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (c) => resolve({ code: c, out }));
  });
}

describe('fatal errors', () => {
  it('an exception thrown from a setImmediate callback is logged and exits 70 at once', async () => {
    const r = await run(`setImmediate(() => { throw new TypeError("boom from nowhere"); });`);
    expect(r.code, r.out).toBe(70);
    expect(r.out).not.toContain('still running');
    const line = JSON.parse(r.out.trim().split('\n').find((l) => l.includes('"level":60'))!) as { msg: string; err: { message: string } };
    expect(line.msg).toBe('uncaught exception; exiting');
    expect(line.err.message).toBe('boom from nowhere');
  });

  it('an unhandled rejection is logged and exits 70 at once', async () => {
    const r = await run(`void Promise.reject(new Error("nobody listens"));`);
    expect(r.code, r.out).toBe(70);
    expect(r.out).not.toContain('still running');
    expect(r.out).toContain('unhandled promise rejection; exiting');
    expect(r.out).toContain('nobody listens');
  });
});
