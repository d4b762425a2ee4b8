/**
 * The WhatsApp-session machine on its own: each disconnect reason's next state, backoff, pairing,
 * and sends as effects. Pure `transition`, no actor, no socket.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import {
  BACKOFF_CAP_MS,
  backoffMs,
  decideClose,
  sessionStatus,
  wantsSocket,
  whatsappSessionMachine,
  type WhatsAppSessionContext,
  type WhatsAppSessionEvent,
} from './whatsapp-session.machine.ts';

type Action = { type: string; params?: unknown };
const at = '2026-12-01T12:00:00.000Z';

function run(events: WhatsAppSessionEvent[]): [AnyMachineSnapshot, Action[]] {
  let [snapshot, actions] = initialTransition(whatsappSessionMachine, { session: 'consultant' }) as [AnyMachineSnapshot, Action[]];
  for (const e of events) [snapshot, actions] = transition(whatsappSessionMachine, snapshot as never, e) as [AnyMachineSnapshot, Action[]];
  return [snapshot, actions];
}
const named = (actions: Action[], type: string) => actions.filter((a) => a.type === type).map((a) => a.params);
const ctx = (s: AnyMachineSnapshot) => s.context as WhatsAppSessionContext;
const close = (statusCode: number | null, conflictType?: string): WhatsAppSessionEvent => ({ type: 'conn.close', statusCode, conflictType, at, jitter: 0.5 });
const open: WhatsAppSessionEvent = { type: 'conn.open', me: '5511900000000@s.whatsapp.net', at };

describe('whatsapp-session machine', () => {
  it('starts connecting with a socket wanted; a QR moves it to pairing, open clears the QR', () => {
    const [s0] = run([]);
    expect(sessionStatus(s0.value)).toBe('connecting');
    expect(wantsSocket(s0.value)).toBe(true);
    const [s1] = run([{ type: 'conn.qr', qr: 'qr-1', at }]);
    expect(sessionStatus(s1.value)).toBe('pairing');
    expect(ctx(s1).qr).toBe('qr-1');
    const [s2] = run([{ type: 'conn.qr', qr: 'qr-1', at }, { type: 'conn.qr', qr: 'qr-2', at }, open]);
    expect(sessionStatus(s2.value)).toBe('open');
    expect(ctx(s2).qr).toBeNull();
    expect(ctx(s2).me).toBe('5511900000000@s.whatsapp.net');
  });

  it('decides every disconnect reason', () => {
    expect(decideClose(401)).toBe('loggedOut');
    expect(decideClose(440, 'device_removed')).toBe('loggedOut');
    expect(decideClose(440, 'replaced')).toBe('replaced');
    expect(decideClose(515)).toBe('restart');
    expect(decideClose(403)).toBe('fatal');
    expect(decideClose(411)).toBe('fatal');
    for (const code of [408, 428, 500, 503, 405, null]) expect(decideClose(code)).toBe('backoff');
  });

  it('401 and 440 device_removed: logged out, credentials wiped, no socket until reconnect', () => {
    for (const e of [close(401), close(440, 'device_removed')]) {
      const [s, actions] = run([open, e]);
      expect(s.value).toBe('loggedOut');
      expect(wantsSocket(s.value)).toBe(false);
      expect(named(actions, 'whatsapp.clearCredentials')).toEqual([{ session: 'consultant' }]);
    }
    const [back] = run([open, close(401), { type: 'session.reconnect', at }]);
    expect(sessionStatus(back.value)).toBe('connecting');
  });

  it('515 restarts at once with a new socket generation; 440 replaced and 403/411 stay down', () => {
    const [r] = run([{ type: 'conn.qr', qr: 'q', at }, close(515)]);
    expect(sessionStatus(r.value)).toBe('connecting');
    expect(ctx(r).generation).toBe(2);
    expect(run([open, close(440, 'replaced')])[0].value).toBe('replaced');
    expect(run([open, close(403)])[0].value).toBe('failed');
    expect(run([open, close(411)])[0].value).toBe('failed');
    expect(ctx(run([open, close(411)])[0]).reason).toMatch(/multi-dispositivo/);
  });

  it('408/428/500: reconnecting with a growing, capped backoff through a durable after', () => {
    const [s1, a1] = run([open, close(428)]);
    expect(s1.value).toBe('reconnecting');
    expect(ctx(s1).retryInMs).toBe(backoffMs(0, 0.5));
    expect(a1.some((a) => a.type === 'xstate.raise')).toBe(true);
    const [s2] = run([open, close(428), { type: 'xstate.after.backoff.whatsapp-session.reconnecting' } as never, close(408)]);
    expect(ctx(s2).attempt).toBe(2);
    expect(ctx(s2).retryInMs).toBeGreaterThan(ctx(s1).retryInMs);
    expect(backoffMs(30, 1)).toBe(BACKOFF_CAP_MS);
    // Opening resets the count.
    const [s3] = run([open, close(500), { type: 'session.reconnect', at }, open]);
    expect(ctx(s3).attempt).toBe(0);
  });

  it('sends are effects in every state; logout wipes and stops; a missing driver fails visibly', () => {
    const send: WhatsAppSessionEvent = { type: 'message.send', messageId: 'm1', waId: '3EB0X', chatId: 'c1', jid: 'j', text: 'oi', at };
    const [s, actions] = run([close(428), send]);
    expect(s.value).toBe('reconnecting');
    expect(actions.map((a) => a.type)).toEqual(['whatsapp.send']);
    expect(named(actions, 'whatsapp.send')).toEqual([expect.objectContaining({ messageId: 'm1', waId: '3EB0X', session: 'consultant' })]);
    const [out] = run([open, { type: 'session.logout', at }]);
    expect(out.value).toBe('loggedOut');
    const [failed] = run([{ type: 'driver.unavailable', message: 'driver not available', at }]);
    expect(failed.value).toBe('failed');
    expect(ctx(failed).reason).toBe('driver not available');
  });
});
