/**
 * Two postgres.js 3.4.9 faults our patch (patches/postgres+3.4.9.patch) fixes, each shown against a
 * copy of the package with that part of the patch taken out (it must fail, or the test proves
 * nothing) and against the installed, patched package.
 *
 * 1. The null-socket crash (porsager/postgres#1066, #1154, #1208).
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
/** The patched lines in closed(), and the line 3.4.9 has there. */
const SETTLE_ON_CLOSE = /\n {4}\/\/ Patched[^\n]*\n {4}\/\/ [^\n]*\n {4}\/\/ [^\n]*\n {4};\(query \|\| sent\.length\) && error\(Errors\.connection\('CONNECTION_CLOSED', options, socket\)\)\n {4}query = null\n/;
const SETTLE_ON_CLOSE_UPSTREAM = "\n    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))\n";

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

/**
 * 2. A query issued while a connection dies never settles. The backend is terminated under two
 * callers that each send their next query as soon as the last one settles, so two are pipelined on
 * the pool's one connection (as our intake connection does). The socket's 'error' rejects what was
 * in flight; a caller's next query, issued before the socket's 'close', is queued on the dying
 * connection, and 3.4.9's closed() settles nothing when the close had an error. Cuts go on until a
 * query hangs or 20 cuts pass; then every query must settle and the pool must answer again (the
 * first queries after the last cut may still meet the backend that cut killed).
 */
const PIPELINED = `
const [, , entry, url] = process.argv;
const { default: postgres } = await import(entry);
const name = 'driver-pipelined-' + process.pid;
const sql = postgres(url, { max: 1, onnotice: () => {}, connection: { application_name: name } });
const killer = postgres(url, { max: 1, onnotice: () => {} });
const open = new Map();
let stop = false, n = 0, ok = 0, failed = 0;
const caller = async () => {
  while (!stop) {
    const id = ++n;
    open.set(id, Date.now());
    await sql\`select pg_sleep(0.002)\`.then(() => ok++, () => failed++);
    open.delete(id);
  }
};
const callers = [caller(), caller()];
const oldest = () => Math.max(0, ...[...open.values()].map((at) => Date.now() - at));
let cuts = 0;
while (cuts < 20 && oldest() < 3000) {
  await new Promise((r) => setTimeout(r, 200 + Math.random() * 200));
  await killer\`select pg_terminate_backend(pid) from pg_stat_activity where application_name = \${name}\`;
  cuts++;
}
const settled = await Promise.race([
  (async () => { stop = true; await Promise.all(callers); return true; })(),
  new Promise((r) => setTimeout(() => r(false), 10000)),
]);
// The last cut may have hit the connection while idle, or a moment before the backend acted on
// it: the next queries may still learn of it (57P01, CONNECTION_CLOSED). Within five tries, 100 ms
// apart, the pool must answer again.
let after = 'not run';
const seen = [];
for (let i = 0; settled && i < 5 && after !== 1; i++) {
  if (i > 0) await new Promise((r) => setTimeout(r, 100));
  after = await sql\`select 1 as one\`.then(([r]) => r.one, (e) => e.code ?? e.message);
  seen.push(after);
}
console.log(JSON.stringify({ cuts, ok, failed, settled, hung: open.size, after, seen }));
process.exit(0);
`;

let dir: string;
let url: string;

beforeAll(async () => {
  url = await createTestDatabase('driver');
  dir = await mkdtemp(join(tmpdir(), 'livia-driver-'));
  await writeFile(join(dir, 'repro.mjs'), REPRO);
  await writeFile(join(dir, 'pipelined.mjs'), PIPELINED);
  // The same package with the guard taken out: what `npm install` gives without patch-package.
  const unpatched = join(dir, 'node_modules', 'postgres');
  await cp(INSTALLED, unpatched, { recursive: true });
  const file = join(unpatched, 'src', 'connection.js');
  const source = await readFile(file, 'utf8');
  expect(source).toMatch(GUARD);
  await writeFile(file, source.replace(GUARD, '\n'));
  // The same package with closed() as 3.4.9 has it.
  const unsettled = join(dir, 'unsettled', 'postgres');
  await cp(INSTALLED, unsettled, { recursive: true });
  const file2 = join(unsettled, 'src', 'connection.js');
  const source2 = await readFile(file2, 'utf8');
  expect(source2).toMatch(SETTLE_ON_CLOSE);
  await writeFile(file2, source2.replace(SETTLE_ON_CLOSE, SETTLE_ON_CLOSE_UPSTREAM));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function run(pkgDir: string, script = 'repro.mjs'): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(dir, script), pathToFileURL(join(pkgDir, 'src', 'index.js')).href, url], {
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

describe('postgres.js: pipelined queries on a connection whose backend is terminated', () => {
  it('the installed src/ and CommonJS build both settle pending queries on any close', async () => {
    expect(await readFile(join(INSTALLED, 'src', 'connection.js'), 'utf8')).toMatch(SETTLE_ON_CLOSE);
    expect(await readFile(join(INSTALLED, 'cjs', 'src', 'connection.js'), 'utf8')).toMatch(SETTLE_ON_CLOSE);
  });

  it('unpatched 3.4.9: a query issued as the connection dies never settles', async () => {
    const r = await run(join(dir, 'unsettled', 'postgres'), 'pipelined.mjs');
    expect(r.code, r.out).toBe(0);
    const result = JSON.parse(r.out.trim().split('\n').at(-1)!) as { settled: boolean; hung: number };
    expect(result, r.out).toMatchObject({ settled: false });
    expect(result.hung).toBeGreaterThan(0);
  }, 60_000);

  it('patched: after 20 cuts every query has settled, and the pool answers again', async () => {
    const r = await run(INSTALLED, 'pipelined.mjs');
    expect(r.code, r.out).toBe(0);
    const result = JSON.parse(r.out.trim().split('\n').at(-1)!) as { cuts: number; ok: number; failed: number };
    expect(result, r.out).toMatchObject({ cuts: 20, settled: true, hung: 0, after: 1 });
    expect(result.failed).toBeGreaterThan(0);
    expect(result.ok).toBeGreaterThan(0);
  }, 60_000);
});
