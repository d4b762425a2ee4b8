/**
 * Password hashing with bcryptjs (the design's choice) on a small pool of worker threads: one
 * bcrypt compare is ~150 ms of pure CPU, which on the main thread would stall every request and
 * actor while it runs. `node:worker_threads` works under Node and Deno alike.
 *
 * @example
 * const hash = await passwords.hash('s3cret-password');
 * await passwords.verify('s3cret-password', hash); // true
 * await passwords.verify('anything', undefined);   // false, after the same work
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** bcrypt cost 2^11: about 150 ms per check in bcryptjs here, slow enough for offline guessing. */
export const BCRYPT_COST = 11;

const WORKER_URL = new URL('./password-worker.mjs', import.meta.url);

type Pending = { resolve(v: unknown): void; reject(e: Error): void };

class BcryptPool {
  #workers: Worker[] = [];
  #pending = new Map<number, Pending>();
  #next = 0;
  #seq = 0;

  constructor(private readonly size: number) {}

  run<T>(op: 'hash' | 'compare', a: string, b: string | number): Promise<T> {
    const worker = this.#worker();
    const id = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.#pending.size === 1) for (const w of this.#workers) w.ref();
      worker.postMessage({ id, op, a, b });
    });
  }

  #worker(): Worker {
    if (this.#workers.length < this.size) {
      const w = new Worker(WORKER_URL);
      w.on('message', (m: { id: number; result?: unknown; error?: string }) => this.#settle(m.id, m.error, m.result));
      w.on('error', (err) => this.#failAll(err));
      this.#workers.push(w);
      return w;
    }
    return this.#workers[this.#next++ % this.#workers.length]!;
  }

  #settle(id: number, error: string | undefined, result: unknown) {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    // Idle workers must not keep the process alive.
    if (this.#pending.size === 0) for (const w of this.#workers) w.unref();
    if (error !== undefined) p.reject(new Error(error));
    else p.resolve(result);
  }

  #failAll(err: Error) {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    const workers = this.#workers;
    this.#workers = [];
    for (const w of workers) void w.terminate();
  }
}

const pool = new BcryptPool(Math.max(1, Math.min(2, availableParallelism() - 1)));

export function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  return pool.run<string>('hash', password, cost);
}

/** A real-looking hash to compare against when the user does not exist, so both cost the same. */
let dummyHash: Promise<string> | undefined;

/**
 * Compares against the real hash, or against a dummy one when there is none, so a login for an
 * unknown email costs the same time as a wrong password.
 */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  dummyHash ??= hashPassword('not-a-real-password');
  const ok = await pool.run<boolean>('compare', password, hash ?? (await dummyHash));
  return ok && hash !== undefined;
}
