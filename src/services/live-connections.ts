/**
 * Every open real-time connection (Socket.io socket, SSE stream) by user and by token, so that a
 * revocation reaches the connections already open, not only the next request.
 *
 * @example
 * const off = live.open({ userId, jti, kind: 'sse' }, () => stream.close());
 * live.closeUser(userId); // role change, deactivation, password change
 * live.closeToken(jti);   // logout
 */
export type ConnectionKind = 'socket' | 'sse';

export interface LiveConnection {
  userId: string;
  jti: string | undefined;
  kind: ConnectionKind;
  /** The token version and role it was opened with (rechecked after a missed cross-instance change). */
  ver?: number | undefined;
  role?: string | undefined;
  close(): void;
}
type Connection = LiveConnection;

export class LiveConnections {
  #all = new Set<Connection>();

  /** Registers a connection; the returned function forgets it (call it when it closes). */
  open(who: { userId: string; jti: string | undefined; kind: ConnectionKind; ver?: number | undefined; role?: string | undefined }, close: () => void): () => void {
    const conn: Connection = { ...who, close };
    this.#all.add(conn);
    return () => this.#all.delete(conn);
  }

  closeUser(userId: string): number {
    return this.#closeWhere((c) => c.userId === userId);
  }

  closeToken(jti: string): number {
    return this.#closeWhere((c) => c.jti === jti);
  }

  /** Closes the connections `stale` picks; answers how many. */
  closeWhere(stale: (c: Readonly<LiveConnection>) => boolean): number {
    return this.#closeWhere(stale);
  }

  /** The users with an open connection now. */
  users(): Set<string> {
    return new Set([...this.#all].map((c) => c.userId));
  }

  count(kind?: ConnectionKind): number {
    let n = 0;
    for (const c of this.#all) if (!kind || c.kind === kind) n++;
    return n;
  }

  #closeWhere(match: (c: Connection) => boolean): number {
    const hit = [...this.#all].filter(match);
    for (const c of hit) {
      this.#all.delete(c);
      c.close();
    }
    return hit.length;
  }
}
