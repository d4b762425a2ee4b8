import { describe, expect, it } from 'vitest';
import {
  advancesStatus,
  backoffDelay,
  BACKOFF_CAP_MS,
  classifyDisconnect,
  receiptStatus,
  type DisconnectAction,
} from './whatsapp-disconnect.ts';

/** A close as Baileys 7 emits it: `lastDisconnect.error` a Boom (`output.statusCode`, `data`). */
function close(statusCode: number | undefined, data?: unknown, message = 'Stream Errored') {
  const error = statusCode === undefined ? undefined : Object.assign(new Error(message), { isBoom: true, output: { statusCode }, data });
  return { connection: 'close', lastDisconnect: { error, date: new Date() } };
}

describe('classifyDisconnect', () => {
  const cases: [string, ReturnType<typeof close>, DisconnectAction, boolean, boolean][] = [
    ['our own end() (no error)', close(undefined), 'intentional', false, false],
    ['401 loggedOut', close(401, { reason: '401' }, 'Connection Failure'), 'loggedOut', false, true],
    ['440 device_removed', close(440, { tag: 'conflict', attrs: { type: 'device_removed' } }), 'loggedOut', false, true],
    ['440 replaced', close(440, { tag: 'conflict', attrs: { type: 'replaced' } }), 'replaced', false, false],
    ['440 without a type', close(440, { tag: 'conflict', attrs: {} }), 'replaced', false, false],
    ['515 restartRequired', close(515), 'restart', true, false],
    ['403 forbidden', close(403), 'fatal', false, false],
    ['411 multidevice mismatch', close(411), 'fatal', false, false],
    ['405 stale version', close(405), 'staleVersion', true, false],
    ['408 timed out / lost', close(408), 'backoff', true, false],
    ['428 connection closed', close(428), 'backoff', true, false],
    ['500 bad session', close(500), 'backoff', true, false],
    ['503 unavailable', close(503), 'backoff', true, false],
  ];
  it.each(cases)('%s', (_name, update, action, reconnects, wipe) => {
    const c = classifyDisconnect(update);
    expect(c.action).toBe(action);
    expect(c.reconnects).toBe(reconnects);
    expect(c.wipeCredentials).toBe(wipe);
  });

  it('reports the code, the conflict type and the message', () => {
    expect(classifyDisconnect(close(440, { tag: 'conflict', attrs: { type: 'replaced' } }, 'Stream Errored (conflict)'))).toMatchObject({
      statusCode: 440,
      conflictType: 'replaced',
      message: 'Stream Errored (conflict)',
    });
    expect(classifyDisconnect(close(401)).conflictType).toBeNull();
  });

  it('an error without a status code is a failure to back off from, not an intentional stop', () => {
    expect(classifyDisconnect({ connection: 'close', lastDisconnect: { error: new Error('socket hang up') } }).action).toBe('backoff');
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt, scaled by a jitter factor in [0.5, 1.5), and stays under the cap', () => {
    expect(backoffDelay(0, 0.5)).toBe(2000);
    expect(backoffDelay(1, 0.5)).toBe(4000);
    expect(backoffDelay(3, 0)).toBe(8000);
    expect(backoffDelay(3, 0.999)).toBeLessThan(24_000);
    for (let a = 0; a < 40; a++) expect(backoffDelay(a, 0.999)).toBeLessThanOrEqual(BACKOFF_CAP_MS);
    expect(backoffDelay(40, 0.999)).toBe(BACKOFF_CAP_MS);
  });
});

describe('receiptStatus', () => {
  it('maps SERVER_ACK, DELIVERY_ACK, READ, PLAYED and ERROR', () => {
    expect(receiptStatus({ status: 2 })).toEqual({ status: 'sent' });
    expect(receiptStatus({ status: 3 })).toEqual({ status: 'delivered' });
    expect(receiptStatus({ status: 4 })).toEqual({ status: 'read' });
    expect(receiptStatus({ status: 5 })).toEqual({ status: 'read' });
    expect(receiptStatus({ status: 0, messageStubParameters: ['479'] })).toEqual({ status: 'failed', errorCode: 479, retryable: true });
    expect(receiptStatus({ status: 0 })).toEqual({ status: 'failed', errorCode: undefined, retryable: true });
  });

  it('463 (restricted account) is never retried', () => {
    expect(receiptStatus({ status: 0, messageStubParameters: ['463'] })).toEqual({ status: 'failed', errorCode: 463, retryable: false });
  });

  it('PENDING and updates without a status are not receipts', () => {
    expect(receiptStatus({ status: 1 })).toBeUndefined();
    expect(receiptStatus({})).toBeUndefined();
  });
});

describe('advancesStatus', () => {
  it('moves forward only, whatever order receipts arrive in', () => {
    expect(advancesStatus('pending', 'sent')).toBe(true);
    expect(advancesStatus('sent', 'read')).toBe(true);
    expect(advancesStatus('read', 'delivered')).toBe(false);
    expect(advancesStatus('delivered', 'sent')).toBe(false);
    expect(advancesStatus('pending', 'failed')).toBe(true);
    expect(advancesStatus('delivered', 'failed')).toBe(false);
    expect(advancesStatus('failed', 'read')).toBe(false);
  });
});
