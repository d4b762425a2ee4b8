/**
 * What a WhatsApp socket's close means, and what a receipt means: pure rules over Baileys 7's
 * shapes (`connection.update` with `lastDisconnect.error` a Boom, `messages.update` receipts),
 * shared by every driver and by the session machine.
 *
 * Disconnect reasons (Baileys' `DisconnectReason`):
 * | code | meaning | action |
 * | --- | --- | --- |
 * | none | our own `sock.end()` | `intentional`: nothing to do |
 * | 401 | logged out from the phone | `loggedOut`: wipe credentials, wait for pairing |
 * | 440 `device_removed` | this device was removed | `loggedOut` |
 * | 440 `replaced` (or any other conflict) | another client took the session | `replaced`: no automatic reconnect |
 * | 515 | restart required (after pairing) | `restart`: reconnect at once, same credentials |
 * | 403, 411 | forbidden, multi-device mismatch | `fatal`: report, no reconnect |
 * | 405 | the WhatsApp Web version is stale | `staleVersion`: refresh the version, then back off |
 * | 408, 428, 500, 503, others | timed out, closed, bad session, unavailable | `backoff` |
 *
 * @example
 * classifyDisconnect({ connection: 'close', lastDisconnect: { error: boom401, date } }).action // => 'loggedOut'
 * backoffDelay(3, 0.5) // => 16000 (2 s · 2³, jitter factor 1)
 */

export type DisconnectAction = 'intentional' | 'loggedOut' | 'replaced' | 'restart' | 'fatal' | 'staleVersion' | 'backoff';

export interface DisconnectClass {
  action: DisconnectAction;
  /** The Boom's status code, null for a close without one. */
  statusCode: number | null;
  /** The stream error's conflict type for a 440 (`replaced`, `device_removed`). */
  conflictType: string | null;
  /** The error's message, for logs and the session's reported reason. */
  message: string | null;
  /** Whether the socket should come back by itself (restart, staleVersion, backoff). */
  reconnects: boolean;
  /** Whether the stored credentials must be wiped (they are dead). */
  wipeCredentials: boolean;
}

/** The part of Baileys' `connection.update` this reads (structural: no Baileys import). */
export interface DisconnectUpdate {
  connection?: string | undefined;
  lastDisconnect?: { error?: unknown; date?: Date } | undefined;
}

interface BoomLike {
  message?: string;
  output?: { statusCode?: number };
  data?: unknown;
}

function conflictTypeOf(data: unknown): string | null {
  if (!data || typeof data !== 'object') return null;
  // The stream error node: {tag: 'conflict', attrs: {type: 'replaced' | 'device_removed'}}.
  const node = data as { tag?: unknown; attrs?: { type?: unknown }; type?: unknown };
  if (typeof node.attrs?.type === 'string') return node.attrs.type;
  if (typeof node.type === 'string') return node.type;
  return null;
}

/**
 * Classifies the close of a socket from its `connection.update`.
 *
 * @example
 * classifyDisconnect({ connection: 'close', lastDisconnect: { error: undefined } }).action // => 'intentional'
 */
export function classifyDisconnect(update: DisconnectUpdate): DisconnectClass {
  const error = update.lastDisconnect?.error as BoomLike | undefined;
  const code = error?.output?.statusCode;
  const statusCode = typeof code === 'number' && Number.isFinite(code) ? code : null;
  const conflictType = statusCode === 440 ? conflictTypeOf(error?.data) : null;
  const message = typeof error?.message === 'string' ? error.message : null;
  const action = actionFor(error, statusCode, conflictType);
  return {
    action,
    statusCode,
    conflictType,
    message,
    reconnects: action === 'restart' || action === 'staleVersion' || action === 'backoff',
    wipeCredentials: action === 'loggedOut',
  };
}

function actionFor(error: BoomLike | undefined, statusCode: number | null, conflictType: string | null): DisconnectAction {
  // Baileys' end() without an error: only our own sock.end() does that.
  if (!error) return 'intentional';
  switch (statusCode) {
    case 401:
      return 'loggedOut';
    case 440:
      return conflictType === 'device_removed' ? 'loggedOut' : 'replaced';
    case 515:
      return 'restart';
    case 403:
    case 411:
      return 'fatal';
    case 405:
      return 'staleVersion';
    default:
      return 'backoff';
  }
}

export const BACKOFF_BASE_MS = 2000;
export const BACKOFF_CAP_MS = 5 * 60_000;

/**
 * Exponential backoff with jitter, capped: min(cap, base · 2^attempt) × (0.5 + jitter), jitter in
 * [0, 1), and never past the cap.
 *
 * @example
 * backoffDelay(0, 0.5) // => 2000
 * backoffDelay(30, 0.99) // => 300000
 */
export function backoffDelay(attempt: number, jitter: number, opts: { baseMs?: number; capMs?: number } = {}): number {
  const base = opts.baseMs ?? BACKOFF_BASE_MS;
  const cap = opts.capMs ?? BACKOFF_CAP_MS;
  const raw = Math.min(cap, base * 2 ** Math.min(Math.max(0, attempt), 30));
  const factor = 0.5 + Math.max(0, Math.min(1, jitter));
  return Math.round(Math.min(cap, raw * factor));
}

/** Our outbound message statuses, in the order they move. */
export type ReceiptStatus = 'sent' | 'delivered' | 'read' | 'failed';

/** `proto.WebMessageInfo.Status` values (Baileys 7). */
export const WA_STATUS = { ERROR: 0, PENDING: 1, SERVER_ACK: 2, DELIVERY_ACK: 3, READ: 4, PLAYED: 5 } as const;

/** WhatsApp's error for a restricted account: the send must never be retried. */
export const RESTRICTED_ERROR_CODE = 463;

export interface Receipt {
  status: ReceiptStatus;
  /** For `failed`: the error code WhatsApp gave (from `messageStubParameters[0]`), if any. */
  errorCode?: number | undefined;
  /** For `failed`: whether sending again can help (never for 463). */
  retryable?: boolean | undefined;
}

/** The part of Baileys' `WAMessageUpdate.update` this reads. */
export interface ReceiptUpdate {
  status?: number | null | undefined;
  messageStubParameters?: (string | null | undefined)[] | null | undefined;
}

/**
 * Maps a `messages.update` receipt to our status: SERVER_ACK → sent, DELIVERY_ACK → delivered,
 * READ and PLAYED → read, ERROR → failed. PENDING and updates without a status are not receipts.
 *
 * @example
 * receiptStatus({ status: 3 }) // => { status: 'delivered' }
 * receiptStatus({ status: 0, messageStubParameters: ['463'] }) // => { status: 'failed', errorCode: 463, retryable: false }
 */
export function receiptStatus(update: ReceiptUpdate): Receipt | undefined {
  switch (update.status) {
    case WA_STATUS.SERVER_ACK:
      return { status: 'sent' };
    case WA_STATUS.DELIVERY_ACK:
      return { status: 'delivered' };
    case WA_STATUS.READ:
    case WA_STATUS.PLAYED:
      return { status: 'read' };
    case WA_STATUS.ERROR: {
      const raw = update.messageStubParameters?.[0];
      const code = raw !== null && raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
      return { status: 'failed', errorCode: code, retryable: code !== RESTRICTED_ERROR_CODE };
    }
    default:
      return undefined;
  }
}

const RANK: Record<ReceiptStatus | 'pending', number> = { pending: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/**
 * Whether a receipt moves a message forward: receipts can arrive out of order (a READ before the
 * DELIVERY_ACK), and a late SERVER_ACK must not take a read message back to sent. `failed` wins
 * over pending and sent only.
 *
 * @example
 * advancesStatus('read', 'delivered') // => false
 */
export function advancesStatus(current: ReceiptStatus | 'pending', next: ReceiptStatus): boolean {
  if (next === 'failed') return current === 'pending' || current === 'sent';
  if (current === 'failed') return false;
  return RANK[next] > RANK[current];
}
