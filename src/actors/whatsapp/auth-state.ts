/**
 * Baileys auth state over a crash-safe backend (a directory of files, or PostgreSQL tables).
 *
 * Baileys' own `useMultiFileAuthState` is "not for production": its writes are not atomic, and a
 * half-written `creds.json` silently yields a new identity (a new QR, the phone unlinked). Here a
 * backend stores serialized text only and promises two things: a creds write lands whole or not at
 * all, and one `set()` of signal keys lands whole or not at all. This module does what both
 * backends share: `BufferJSON` (de)serialization, app-state-sync keys rebuilt as protobuf objects,
 * the `makeCacheableSignalKeyStore` wrapper, and a generation counter so that a socket that is
 * being torn down cannot write its creds back after a wipe.
 *
 * @example
 * const store = createFileAuthStore({ dir: '/data/baileys_sessions', session: 'consultant' });
 * const { state, saveCreds } = await store.open(logger);
 * const sock = makeWASocket({ auth: state, ... });
 * sock.ev.on('creds.update', saveCreds);
 * // logged out:
 * await store.clear();
 */
import {
  BufferJSON,
  initAuthCreds,
  makeCacheableSignalKeyStore,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys';

/** Key types Baileys 7 stores (`SignalDataTypeMap`), so backends can check what they are given. */
export const SIGNAL_KEY_TYPES = [
  'pre-key',
  'session',
  'sender-key',
  'sender-key-memory',
  'app-state-sync-key',
  'app-state-sync-version',
  'lid-mapping',
  'device-list',
  'tctoken',
  'identity-key',
] as const satisfies readonly (keyof SignalDataTypeMap)[];

export type SignalKeyType = keyof SignalDataTypeMap;

/** One key write: a serialized value, or null to delete it. */
export interface KeyWrite {
  type: SignalKeyType;
  id: string;
  value: string | null;
}

/** What a storage backend does; values are `BufferJSON` text, opaque to it. */
export interface AuthBackend {
  readonly kind: 'file' | 'postgres';
  /** The serialized creds, or undefined when none were ever written (or they were wiped). */
  readCreds(): Promise<string | undefined>;
  /** Replaces the creds whole: after a crash the old text or the new one is read, never a mix. */
  writeCreds(text: string): Promise<void>;
  readKeys(type: SignalKeyType, ids: string[]): Promise<Map<string, string>>;
  /** Applies every write or none (one transaction). */
  writeKeys(writes: KeyWrite[]): Promise<void>;
  /** Deletes the creds and every key of this session. */
  wipe(): Promise<void>;
}

/** The creds text exists but cannot be read: never replaced silently by a new identity. */
export class AuthStateCorruptError extends Error {
  override name = 'AuthStateCorruptError';
}

/** What `open()` gives the socket. */
export interface OpenedAuthState {
  state: AuthenticationState;
  /** Writes `state.creds` as it is now (Baileys mutates it in place, then emits `creds.update`). */
  saveCreds(): Promise<void>;
}

/** A session's auth state: opened once per socket, wiped on logout. */
export interface WhatsAppAuthStore {
  readonly kind: 'file' | 'postgres';
  readonly session: string;
  open(logger?: BaileysLogger): Promise<OpenedAuthState>;
  /** Wipes creds and keys; states opened before it stop writing (their saves are dropped). */
  clear(): Promise<void>;
  /** Whether stored creds belong to a paired device (see `isPaired`). */
  isRegistered(): Promise<boolean>;
}

/** The logger shape Baileys accepts (pino's). */
export type BaileysLogger = Parameters<typeof makeCacheableSignalKeyStore>[1];

export function serialize(value: unknown): string {
  return JSON.stringify(value, BufferJSON.replacer);
}

export function deserialize<T = unknown>(text: string): T {
  return JSON.parse(text, BufferJSON.reviver) as T;
}

/**
 * Whether creds belong to a paired device. `registered` alone is set only by the pairing-code
 * flow, and `me` is set by `requestPairingCode` before the phone confirms; `account` is written
 * by a successful pairing of either kind.
 */
export function isPaired(creds: Pick<AuthenticationCreds, 'account' | 'me' | 'registered'>): boolean {
  return Boolean(creds.account && creds.me?.id) || creds.registered === true;
}

function parseCreds(text: string, kind: string): AuthenticationCreds {
  try {
    const creds = deserialize<AuthenticationCreds>(text);
    if (!creds || typeof creds !== 'object' || !creds.noiseKey || !creds.signedIdentityKey) {
      throw new Error('not a creds object');
    }
    return creds;
  } catch (err) {
    throw new AuthStateCorruptError(`${kind} auth store: stored creds cannot be read (${(err as Error).message})`);
  }
}

/**
 * Builds the store from a backend. Operations of one store are serialized in call order (a later
 * `set()` of the same key always wins, and `clear()` waits for writes already asked for).
 */
export function makeAuthStore(backend: AuthBackend, session: string): WhatsAppAuthStore {
  let generation = 0;
  let tail: Promise<unknown> = Promise.resolve();
  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    const run = tail.then(op, op);
    tail = run.catch(() => {});
    return run;
  };

  const rawKeys = (gen: number): SignalKeyStore => ({
    async get(type, ids) {
      const found = await serial(() => backend.readKeys(type, ids));
      const out: Record<string, any> = {};
      for (const id of ids) {
        const text = found.get(id);
        if (text === undefined) continue;
        let value: any = deserialize(text);
        if (type === 'app-state-sync-key' && value) value = proto.Message.AppStateSyncKeyData.fromObject(value);
        out[id] = value;
      }
      return out;
    },
    async set(data: SignalDataSet) {
      // Serialized before anything is written: a value that cannot be written fails the whole set.
      const writes: KeyWrite[] = [];
      for (const [type, byId] of Object.entries(data) as [SignalKeyType, Record<string, unknown>][]) {
        if (!byId) continue;
        for (const [id, value] of Object.entries(byId)) {
          writes.push({ type, id, value: value === null || value === undefined ? null : serialize(value) });
        }
      }
      if (writes.length === 0) return;
      await serial(async () => {
        if (gen !== generation) return; // a socket from before a wipe
        await backend.writeKeys(writes);
      });
    },
  });

  return {
    kind: backend.kind,
    session,
    async open(logger) {
      const gen = generation;
      const text = await serial(() => backend.readCreds());
      const creds = text === undefined ? initAuthCreds() : parseCreds(text, backend.kind);
      const keys = makeCacheableSignalKeyStore(rawKeys(gen), logger);
      return {
        state: { creds, keys },
        saveCreds: () =>
          serial(async () => {
            if (gen !== generation) return;
            await backend.writeCreds(serialize(creds));
          }),
      };
    },
    clear() {
      generation++;
      return serial(() => backend.wipe());
    },
    async isRegistered() {
      const text = await serial(() => backend.readCreds());
      return text !== undefined && isPaired(parseCreds(text, backend.kind));
    },
  };
}
