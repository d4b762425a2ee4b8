/**
 * A closed-loop HTTP/1.1 load generator: `connections` keep-alive TCP sockets (node:net), each
 * with one request in flight at a time, for a warm-up and then a fixed duration. The same client
 * and settings serve every target, so their rates compare.
 *
 * Why not node:http or fetch: on this 2-core machine node:http's client needs about a core to
 * drive ~13k req/s, which capped the bare hello-world server and made every ratio look better
 * than it is; writing a fixed request and reading the answer by Content-Length (or chunks) costs
 * a fraction of that (the bare server then runs at ~25k req/s with the client at half a core).
 */
import { connect, type Socket } from 'node:net';
import { closedLoop, summarize } from './common.ts';

export interface LoadResult {
  requests: number;
  rps: number;
  errors: number;
  /** Answers whose status was not the expected one (counted in errors too). */
  unexpected: number;
  latencyMs: { p50: number; p99: number };
  /** CPU time the load generator used, per measured second (1.0 = one core). */
  clientCpu: number;
  firstError?: string;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/**
 * One keep-alive connection with at most one request in flight. `send()` writes the fixed request
 * and resolves with the status; `exchange(request)` writes the given bytes and also keeps the body.
 */
export class Connection {
  #socket: Socket | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #waiting: { resolve(status: number): void; reject(err: Error): void } | undefined;
  /** Body bytes of the answer being read, when the caller wants them (exchange). */
  #body: Buffer[] | undefined;
  /** Parsed head of the answer being read: status, and body bytes still expected (or -1: chunked). */
  #head: { status: number; remaining: number } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
  ) {}

  send(request: Buffer = this.request): Promise<number> {
    const socket = (this.#socket ??= this.#open());
    return new Promise<number>((resolve, reject) => {
      this.#waiting = { resolve, reject };
      socket.write(request);
    });
  }

  async exchange(request: Buffer): Promise<{ status: number; body: Buffer }> {
    const parts: Buffer[] = [];
    this.#body = parts;
    try {
      const status = await this.send(request);
      return { status, body: Buffer.concat(parts) };
    } finally {
      this.#body = undefined;
    }
  }

  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  #open(): Socket {
    const s = connect(this.port, this.host);
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#parse();
    });
    const fail = (err: Error) => {
      if (this.#socket === s) this.#socket = undefined;
      this.#buf = Buffer.alloc(0);
      this.#head = undefined;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(err);
    };
    s.on('error', fail);
    s.on('close', () => fail(new Error('connection closed')));
    return s;
  }

  #parse(): void {
    for (;;) {
      if (!this.#head) {
        const end = this.#buf.indexOf(CRLFCRLF);
        if (end < 0) return;
        const head = this.#buf.subarray(0, end).toString('latin1');
        this.#buf = this.#buf.subarray(end + 4);
        const status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
        this.#head = { status, remaining: length ? Number(length[1]) : chunked ? -1 : 0 };
        if (/\r\nconnection:\s*close/i.test(head)) this.#socket?.once('end', () => this.close());
      }
      if (this.#head.remaining >= 0) {
        if (this.#buf.length < this.#head.remaining) return;
        this.#body?.push(this.#buf.subarray(0, this.#head.remaining));
        this.#buf = this.#buf.subarray(this.#head.remaining);
      } else if (!this.#skipChunks()) {
        return;
      }
      const { status } = this.#head;
      this.#head = undefined;
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.resolve(status);
      if (this.#buf.length === 0) return;
    }
  }

  /** Consumes whole chunks; true once the last (zero-size) chunk and its CRLF are in. */
  #skipChunks(): boolean {
    for (;;) {
      const eol = this.#buf.indexOf('\r\n');
      if (eol < 0) return false;
      const size = Number.parseInt(this.#buf.subarray(0, eol).toString('latin1'), 16);
      if (size === 0) {
        // No trailers from our servers: the last chunk is "0\r\n\r\n".
        if (this.#buf.length < eol + 4) return false;
        this.#buf = this.#buf.subarray(eol + 4);
        return true;
      }
      if (this.#buf.length < eol + 2 + size + 2) return false;
      this.#body?.push(this.#buf.subarray(eol + 2, eol + 2 + size));
      this.#buf = this.#buf.subarray(eol + 2 + size + 2);
    }
  }
}

export async function httpLoad(opts: {
  url: string;
  headers?: Record<string, string> | undefined;
  connections: number;
  warmupMs: number;
  durationMs: number;
  expectStatus?: number;
}): Promise<LoadResult> {
  const target = new URL(opts.url);
  if (target.hostname !== '127.0.0.1') throw new Error(`load goes to 127.0.0.1 only, not ${target.hostname}`);
  const headers = { host: target.host, ...opts.headers };
  const request = Buffer.from(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`,
    'latin1',
  );
  const conns = Array.from({ length: opts.connections }, () => new Connection(target.hostname, Number(target.port), request));
  const expected = opts.expectStatus ?? 200;
  let unexpected = 0;
  const latencies: number[] = [];
  const measureFrom = performance.now() + opts.warmupMs;
  let cpu0 = process.cpuUsage();
  setTimeout(() => (cpu0 = process.cpuUsage()), opts.warmupMs).unref();
  try {
    const r = await closedLoop({
      concurrency: opts.connections,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      worker: async (i) => {
        const t0 = performance.now();
        const status = await conns[i]!.send();
        if (t0 >= measureFrom) latencies.push(performance.now() - t0);
        if (status !== expected) {
          unexpected++;
          throw new Error(`status ${status}`);
        }
      },
    });
    const cpu = process.cpuUsage(cpu0);
    const s = summarize(latencies);
    return {
      requests: r.ops,
      rps: r.perSecond,
      errors: r.errors,
      unexpected,
      latencyMs: { p50: s.p50, p99: s.p99 },
      clientCpu: (cpu.user + cpu.system) / 1000 / r.ms,
      firstError: r.firstError ? String((r.firstError as Error).message ?? r.firstError) : undefined,
    };
  } finally {
    for (const c of conns) c.close();
  }
}
