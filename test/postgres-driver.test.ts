/**
 * The postgres.js null-socket crash (porsager/postgres#1066, #1154, #1208) and our patch for it.
 *
 * The reproduction of #1208: a reserved connection whose backend is terminated while a query runs
 * on it; the next query on it is a small write scheduled with setImmediate, which in 3.4.9 lands
 * on the socket closed() already nulled and throws where nothing can catch it. Each run is a child
 * process: once against a copy of the package with our patch taken out (it must crash, or this
 * test proves nothing), once against the installed, patched package (it must survive, and every
 * query must settle rather than hang).
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/db.ts';

const ROOT = join(import.meta.dirname, '..');
const INSTALLED = join(ROOT, 'node_modules', 'postgres');
const GUARD = /\n {4}if \(!socket\) \{\n[\s\S]*?\n {4}\}\n(?= {4}const x = socket\.write\(chunk, fn\))/;

const REPRO = `
const [, , entry, url] = process.argv;
const { default: postgres } = await import(entry);
const sql = postgres(url, { max: 2, onnotice: () => {} });
const killer = postgres(url, { max: 1, onnotice: () => {} });
const settle = (p) => Promise.race([
  p.then(() => 'ok', (e) => e.code ?? e.message),
  new Promise((r) => setTimeout(() => r('hung'), 5000)),
]);
const reserved = await sql.reserve();
const [{ pid }] = await reserved\`select pg_backend_pid() as pid\`;
const running = settle(reserved\`select pg_sleep(10)\`);
await new Promise((r) => setTimeout(r, 100));
await killer\`select pg_terminate_backend(\${pid})\`;
const results = { inFlight: await running, next: await settle(reserved\`select 1\`) };
reserved.release();
results.pool = await settle(sql\`select 1\`);
console.log(JSON.stringify(results));
await Promise.all([sql.end({ timeout: 1 }), killer.end({ timeout: 1 })]);
`;

let dir: string;
let url: string;

beforeAll(async () => {
  url = await createTestDatabase('driver');
  dir = await mkdtemp(join(tmpdir(), 'livia-driver-'));
  await writeFile(join(dir, 'repro.mjs'), REPRO);
  // The same package with the guard taken out: what `npm install` gives without patch-package.
  const unpatched = join(dir, 'node_modules', 'postgres');
  await cp(INSTALLED, unpatched, { recursive: true });
  const file = join(unpatched, 'src', 'connection.js');
  const source = await readFile(file, 'utf8');
  expect(source).toMatch(GUARD);
  await writeFile(file, source.replace(GUARD, '\n'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(pkgDir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(dir, 'repro.mjs'), pathToFileURL(join(pkgDir, 'src', 'index.js')).href, url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('postgres.js: a reserved connection whose backend is terminated', () => {
  it('the ESM entry we load is the patched src/, and the CommonJS build carries the same guard', async () => {
    const pkg = JSON.parse(await readFile(join(INSTALLED, 'package.json'), 'utf8')) as { exports: { import: string } };
    expect(pkg.exports.import).toBe('./src/index.js');
    expect(await readFile(join(INSTALLED, 'src', 'connection.js'), 'utf8')).toMatch(GUARD);
    expect(await readFile(join(INSTALLED, 'cjs', 'src', 'connection.js'), 'utf8')).toMatch(GUARD);
  });

  it('unpatched 3.4.9: the process dies of the uncatchable TypeError in nextWrite', async () => {
    const r = await run(join(dir, 'node_modules', 'postgres'));
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain("Cannot read properties of null (reading 'write')");
    expect(r.out).toContain('nextWrite');
  }, 30_000);

  it('patched: the process survives, and every query settles with CONNECTION_CLOSED instead of hanging', async () => {
    const r = await run(INSTALLED);
    expect(r.code, r.out).toBe(0);
    const line = r.out.trim().split('\n').at(-1)!;
    expect(JSON.parse(line)).toEqual({ inFlight: 'CONNECTION_CLOSED', next: 'CONNECTION_CLOSED', pool: 'CONNECTION_CLOSED' });
  }, 30_000);
});
