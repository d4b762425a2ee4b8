/**
 * One contract, two stores: the file store (a temporary directory) and the PostgreSQL store (a
 * database of this file's own) must behave the same for everything Baileys asks of an auth state.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Curve, proto } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthStateCorruptError, type WhatsAppAuthStore } from '../src/actors/whatsapp/auth-state.ts';
import { createFileAuthStore } from '../src/actors/whatsapp/auth-store-file.ts';
import { createPostgresAuthStore } from '../src/actors/whatsapp/auth-store-postgres.ts';
import type { Sql } from '../src/db/client.ts';
import { migrate } from '../src/db/migrate.ts';
import { testSql } from './support/db.ts';

let sql: Sql;
let dir: string;
let n = 0;

beforeAll(async () => {
  ({ sql } = await testSql());
  await migrate(sql, 'migrations');
  dir = await mkdtemp(join(tmpdir(), 'livia-auth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Make = (session: string) => WhatsAppAuthStore;
const stores: [string, Make][] = [
  ['file', (session) => createFileAuthStore({ dir, session })],
  ['postgres', (session) => createPostgresAuthStore({ sql, session })],
];

describe.each(stores)('%s auth store', (kind, make) => {
  const fresh = () => make(`${kind}_${++n}`);

  it('starts with new creds, and keeps them, Buffers and all, across a reopen', async () => {
    const store = fresh();
    const { state, saveCreds } = await store.open();
    expect(state.creds.registered).toBe(false);
    expect(await store.isRegistered()).toBe(false);
    state.creds.me = { id: '5511999990000:7@s.whatsapp.net', name: 'Lívia' };
    state.creds.account = { details: Buffer.from([1, 2, 3]), accountSignature: Buffer.from([4]) };
    await saveCreds();

    const again = await make(store.session).open();
    expect(Buffer.isBuffer(again.state.creds.noiseKey.private)).toBe(true);
    expect(Buffer.compare(Buffer.from(again.state.creds.noiseKey.private), Buffer.from(state.creds.noiseKey.private))).toBe(0);
    expect(again.state.creds.signedPreKey.keyId).toBe(state.creds.signedPreKey.keyId);
    expect(again.state.creds.registrationId).toBe(state.creds.registrationId);
    expect(again.state.creds.me?.name).toBe('Lívia');
    expect(await make(store.session).isRegistered()).toBe(true);
  });

  it('stores every key type Baileys 7 uses and gives each back in its shape', async () => {
    const store = fresh();
    const { state } = await store.open();
    const pair = Curve.generateKeyPair();
    await state.keys.set({
      'pre-key': { '1': pair },
      session: { '5511999990000.0': Buffer.from('session-record') },
      'sender-key': { 'group@g.us::5511:0': Buffer.from('sk') },
      'sender-key-memory': { 'group@g.us': { '5511@s.whatsapp.net': true } },
      'app-state-sync-key': { AAAAAQ: { keyData: Buffer.from('k'), timestamp: 1700000000, fingerprint: { rawId: 7 } } },
      'app-state-sync-version': { regular: { version: 3, hash: Buffer.alloc(128, 1), indexValueMap: {} } },
      'lid-mapping': { '5511999990000': '123456789012345', '123456789012345_reverse': '5511999990000' },
      'device-list': { '5511999990000': ['0', '12'] },
      tctoken: { '5511999990000@s.whatsapp.net': { token: Buffer.from('tc'), timestamp: '1700000000' } },
      'identity-key': { '5511999990000.0': new Uint8Array([9, 8, 7]) },
    });

    // A second open has a cold cache: everything below comes from the backend.
    const { keys } = (await make(store.session).open()).state;
    const preKey = (await keys.get('pre-key', ['1', '2']))['1'];
    expect(Buffer.from(preKey!.public).equals(Buffer.from(pair.public))).toBe(true);
    expect(await keys.get('pre-key', ['2'])).toEqual({});
    expect((await keys.get('session', ['5511999990000.0']))['5511999990000.0']!.toString()).toBe('session-record');
    expect((await keys.get('sender-key', ['group@g.us::5511:0']))['group@g.us::5511:0']!.toString()).toBe('sk');
    expect(await keys.get('sender-key-memory', ['group@g.us'])).toEqual({ 'group@g.us': { '5511@s.whatsapp.net': true } });
    const syncKey = (await keys.get('app-state-sync-key', ['AAAAAQ'])).AAAAAQ;
    expect(syncKey).toBeInstanceOf(proto.Message.AppStateSyncKeyData);
    expect(Buffer.from(syncKey!.keyData!).toString()).toBe('k');
    expect(syncKey!.fingerprint?.rawId).toBe(7);
    const version = (await keys.get('app-state-sync-version', ['regular'])).regular!;
    expect(version.version).toBe(3);
    expect(Buffer.isBuffer(version.hash) && version.hash.length).toBe(128);
    expect(await keys.get('lid-mapping', ['5511999990000', '123456789012345_reverse'])).toEqual({
      '5511999990000': '123456789012345',
      '123456789012345_reverse': '5511999990000',
    });
    expect(await keys.get('device-list', ['5511999990000'])).toEqual({ '5511999990000': ['0', '12'] });
    const tc = (await keys.get('tctoken', ['5511999990000@s.whatsapp.net']))['5511999990000@s.whatsapp.net']!;
    expect(tc.token.toString()).toBe('tc');
    expect(tc.timestamp).toBe('1700000000');
    expect([...(await keys.get('identity-key', ['5511999990000.0']))['5511999990000.0']!]).toEqual([9, 8, 7]);
  });

  it('deletes a key set to null, and applies a batch in order (last write of a key wins)', async () => {
    const store = fresh();
    const { state } = await store.open();
    await state.keys.set({ session: { a: Buffer.from('1'), b: Buffer.from('2') } });
    await state.keys.set({ session: { a: null } });
    const sets = Array.from({ length: 20 }, (_, i) => state.keys.set({ session: { b: Buffer.from(String(i)) } }));
    await Promise.all(sets);
    const cold = (await make(store.session).open()).state.keys;
    const got = await cold.get('session', ['a', 'b']);
    expect(got.a).toBeUndefined();
    expect(got.b!.toString()).toBe('19');
  });

  it('fails a whole set when one value cannot be serialized, writing none of it', async () => {
    const store = fresh();
    const { state } = await store.open();
    await expect(
      state.keys.set({ session: { ok: Buffer.from('x') }, 'device-list': { bad: [BigInt(1)] as unknown as string[] } }),
    ).rejects.toThrow();
    const cold = (await make(store.session).open()).state.keys;
    expect(await cold.get('session', ['ok'])).toEqual({});
  });

  it('keeps sessions apart', async () => {
    const a = fresh();
    const b = fresh();
    await (await a.open()).state.keys.set({ 'lid-mapping': { x: 'from-a' } });
    expect(await (await b.open()).state.keys.get('lid-mapping', ['x'])).toEqual({});
    await b.clear();
    expect(await (await make(a.session).open()).state.keys.get('lid-mapping', ['x'])).toEqual({ x: 'from-a' });
  });

  it('clear() wipes creds and keys, and a state opened before it can no longer write', async () => {
    const store = fresh();
    const old = await store.open();
    old.state.creds.me = { id: '5511999990000:7@s.whatsapp.net' };
    old.state.creds.account = { details: Buffer.from([1]) };
    await old.saveCreds();
    await old.state.keys.set({ 'pre-key': { '1': Curve.generateKeyPair() } });
    expect(await store.isRegistered()).toBe(true);

    await store.clear();
    // The socket being torn down emits one more creds.update and key write: both are dropped.
    await old.saveCreds();
    await old.state.keys.set({ 'pre-key': { '2': Curve.generateKeyPair() } });

    expect(await store.isRegistered()).toBe(false);
    const next = await store.open();
    expect(next.state.creds.me).toBeUndefined();
    expect(Buffer.from(next.state.creds.noiseKey.public).equals(Buffer.from(old.state.creds.noiseKey.public))).toBe(false);
    expect(await next.state.keys.get('pre-key', ['1', '2'])).toEqual({});
    await next.saveCreds();
    expect((await make(store.session).open()).state.creds.registrationId).toBe(next.state.creds.registrationId);
  });

  it('a pairing code request (me set, not yet confirmed) is not a paired device', async () => {
    const store = fresh();
    const { state, saveCreds } = await store.open();
    state.creds.me = { id: '5511999990000@s.whatsapp.net', name: '~' };
    await saveCreds();
    expect(await store.isRegistered()).toBe(false);
  });
});

describe('file auth store on disk', () => {
  it('refuses creds it cannot read instead of making a new identity', async () => {
    const session = `corrupt_${++n}`;
    await (await createFileAuthStore({ dir, session }).open()).saveCreds();
    await writeFile(join(dir, session, 'creds.json'), '{"noiseKey": {"private": {"type": "Buf');
    await expect(createFileAuthStore({ dir, session }).open()).rejects.toBeInstanceOf(AuthStateCorruptError);
  });

  it('replays a committed journal found at open, and removes leftover temporary files', async () => {
    const session = `journal_${++n}`;
    const store = createFileAuthStore({ dir, session });
    await (await store.open()).state.keys.set({ session: { old: Buffer.from('o') } });
    // What a crash right after the journal's rename leaves: the journal, no key file yet.
    const root = join(dir, session);
    const journal = [
      { type: 'session', id: 'a', value: JSON.stringify({ type: 'Buffer', data: Buffer.from('A').toString('base64') }) },
      { type: 'session', id: 'old', value: null },
    ];
    await writeFile(join(root, 'journal.json'), JSON.stringify(journal));
    await writeFile(join(root, 'creds.json.999999999.abcd.tmp'), '{"half'); // its writer (no such pid) is gone
    await writeFile(join(root, `creds.json.${process.pid}.abcd.tmp`), '{"in flight'); // a write of this process
    const keys = (await createFileAuthStore({ dir, session }).open()).state.keys;
    const got = await keys.get('session', ['a', 'old']);
    expect(got.a!.toString()).toBe('A');
    expect(got.old).toBeUndefined();
    const names = await readdir(root);
    expect(names).not.toContain('journal.json');
    expect(names.filter((f) => f.endsWith('.tmp'))).toEqual([`creds.json.${process.pid}.abcd.tmp`]);
  });

  it('stores ids with separators and long ids as safe file names', async () => {
    const session = `names_${++n}`;
    const store = createFileAuthStore({ dir, session });
    const long = `${'1203630'.repeat(40)}@g.us::5511999990000:12@s.whatsapp.net`;
    const ids = ['../../escape', '..', 'a/b:c@d.e', long];
    await (await store.open()).state.keys.set({ 'sender-key': Object.fromEntries(ids.map((id) => [id, Buffer.from(id)])) });
    const got = await (await createFileAuthStore({ dir, session }).open()).state.keys.get('sender-key', ids);
    for (const id of ids) expect(got[id]!.toString()).toBe(id);
    expect(await readdir(dir)).not.toContain('escape');
  });

  it('refuses a session name that is not a plain name', () => {
    expect(() => createFileAuthStore({ dir, session: '../x' })).toThrow(/invalid WhatsApp session name/);
  });
});

