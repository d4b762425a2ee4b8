/**
 * Auth state in a directory (`WHATSAPP_AUTH_STORE=file`, the default): `<dir>/<session>/`.
 *
 * Layout: `creds.json`, `keys/<type>/<id>.json`, and `journal.json` while a key set is in flight.
 *
 * Crash safety:
 * - creds: written to a temporary file, fsynced, renamed over `creds.json`, and the directory
 *   fsynced. A `kill -9` or a power cut leaves the old file or the new one, never a half.
 * - keys: one `set()` touches many files, so it is made one transaction with a redo journal. The
 *   whole batch is first committed to `journal.json` (temporary file, fsync, rename, fsync dir);
 *   only then are the key files written (each by rename), fsynced, and the journal removed. A
 *   journal found at open is replayed (writing the same values again is harmless), so after a
 *   crash a set is either wholly there or wholly absent.
 *
 * @example
 * const store = createFileAuthStore({ dir: config.whatsappSessionsDir, session: 'consultant' });
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  AuthStateCorruptError,
  makeAuthStore,
  SIGNAL_KEY_TYPES,
  type AuthBackend,
  type KeyWrite,
  type SignalKeyType,
  type WhatsAppAuthStore,
} from './auth-state.ts';

export interface FileAuthStoreOptions {
  /** WHATSAPP_SESSIONS_DIR */
  dir: string;
  session: string;
}

const SESSION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function createFileAuthStore(opts: FileAuthStoreOptions): WhatsAppAuthStore {
  if (!SESSION_NAME.test(opts.session)) throw new Error(`invalid WhatsApp session name: ${opts.session}`);
  return makeAuthStore(fileBackend(join(opts.dir, opts.session)), opts.session);
}

/** Writes `text` to `file` whole or not at all. */
export async function writeFileAtomic(file: string, text: string, opts: { sync?: boolean } = {}): Promise<void> {
  const sync = opts.sync ?? true;
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    if (sync) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  if (sync) await syncDir(dirname(file));
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncFile(file: string): Promise<void> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!fh) return;
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * A key id as a file name: ids carry `:`, `@`, `/` and dots (`551199…:3@s.whatsapp.net`), and
 * sender-key ids can be long, so the name is URI-encoded (dots too), and hashed past 200 bytes.
 */
function keyFileName(id: string): string {
  const encoded = encodeURIComponent(id).replace(/\./g, '%2E').replace(/\*/g, '%2A');
  if (encoded.length <= 200) return `${encoded}.json`;
  return `h-${createHash('sha256').update(id).digest('hex')}.json`;
}

function isKeyType(t: string): t is SignalKeyType {
  return (SIGNAL_KEY_TYPES as readonly string[]).includes(t);
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Parallel, but bounded: a pre-key upload writes hundreds of files at once. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(workers);
}

/**
 * Temporary files of writes a crash cut short (their rename never happened: the process that
 * named them is gone) and trash of a wipe a crash interrupted are garbage.
 */
async function removeLeftovers(root: string): Promise<void> {
  const parent = dirname(root);
  const base = basename(root);
  for (const name of await readdir(parent)) {
    if (name.startsWith(`${base}.wiped-`)) await rm(join(parent, name), { recursive: true, force: true });
  }
  const dirs = [root, ...(await readdir(join(root, 'keys'))).map((t) => join(root, 'keys', t))];
  for (const dir of dirs) {
    for (const name of await readdir(dir)) {
      const pid = /\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name)?.[1];
      // A live process's temporary file is a write in flight (another store of this process).
      if (pid && !processAlive(Number(pid))) await rm(join(dir, name), { force: true });
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function fileBackend(root: string): AuthBackend {
  const credsFile = join(root, 'creds.json');
  const journalFile = join(root, 'journal.json');
  const keyFile = (type: SignalKeyType, id: string) => join(root, 'keys', type, keyFileName(id));
  let ready: Promise<void> | undefined;

  /** Applies a committed batch to the key files, makes it durable, then drops the journal. */
  async function apply(writes: KeyWrite[]): Promise<void> {
    const types = new Set(writes.map((w) => w.type));
    await Promise.all([...types].map((t) => mkdir(join(root, 'keys', t), { recursive: true })));
    // Last write of an id in the batch wins, as in a transaction.
    const last = new Map<string, KeyWrite>();
    for (const w of writes) last.set(`${w.type}\u0000${w.id}`, w);
    const batch = [...last.values()];
    await eachLimited(batch, 32, async (w) => {
      const file = keyFile(w.type, w.id);
      if (w.value === null) await rm(file, { force: true });
      else await writeFileAtomic(file, w.value, { sync: false });
    });
    // The journal stays until every file of the batch is on disk.
    await eachLimited(batch, 32, (w) => (w.value === null ? Promise.resolve() : syncFile(keyFile(w.type, w.id))));
    await Promise.all([...types].map((t) => syncDir(join(root, 'keys', t))));
    await unlink(journalFile).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await syncDir(root);
  }

  /** Creates the directory and finishes a key set a crash interrupted. */
  function init(): Promise<void> {
    ready ??= (async () => {
      await mkdir(join(root, 'keys'), { recursive: true, mode: 0o700 });
      await removeLeftovers(root);
      const text = await readIfExists(journalFile);
      if (text === undefined) return;
      let writes: KeyWrite[];
      try {
        writes = JSON.parse(text) as KeyWrite[];
      } catch (err) {
        // The journal is renamed into place whole, so this is damage from outside, not a crash.
        throw new AuthStateCorruptError(`file auth store: ${journalFile} cannot be read (${(err as Error).message})`);
      }
      await apply(writes.filter((w) => isKeyType(w.type)));
    })().catch((err) => {
      ready = undefined;
      throw err;
    });
    return ready;
  }

  return {
    kind: 'file',
    async readCreds() {
      await init();
      return readIfExists(credsFile);
    },
    async writeCreds(text) {
      await init();
      await writeFileAtomic(credsFile, text);
    },
    async readKeys(type, ids) {
      await init();
      const out = new Map<string, string>();
      await eachLimited(ids, 32, async (id) => {
        const text = await readIfExists(keyFile(type, id));
        if (text !== undefined) out.set(id, text);
      });
      return out;
    },
    async writeKeys(writes) {
      await init();
      await writeFileAtomic(journalFile, JSON.stringify(writes));
      try {
        await apply(writes);
      } catch (err) {
        // Committed but only partly applied (a full disk): the next operation's init() replays the
        // journal before it reads or writes anything, as a restart would.
        ready = undefined;
        throw err;
      }
    },
    async wipe() {
      // One rename takes creds and keys away together; a crash during the rm that follows
      // leaves only a trash directory, which the next init removes.
      const trash = `${root}.wiped-${randomBytes(4).toString('hex')}`;
      await rename(root, trash).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      ready = undefined;
      await syncDir(dirname(root)).catch(() => {});
      await rm(trash, { recursive: true, force: true });
    },
  };
}
