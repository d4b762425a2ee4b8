import { describe, expect, it } from 'vitest';
import { callWindow, isBusinessTime, nextBusinessMoment, parseHours } from './business-hours.ts';

const SP = parseHours('08:00-20:00', 'America/Sao_Paulo');
const at = (iso: string) => Date.parse(iso);

describe('business hours (São Paulo is UTC−3)', () => {
  it.each([
    ['2026-12-01T11:00:00Z', true], // 08:00 local
    ['2026-12-01T10:59:59Z', false], // 07:59:59
    ['2026-12-01T22:59:00Z', true], // 19:59
    ['2026-12-01T23:00:00Z', false], // 20:00
    ['2026-12-02T03:00:00Z', false], // midnight
  ])('%s inside: %s', (iso, inside) => expect(isBusinessTime(at(iso), SP)).toBe(inside));

  it.each([
    ['2026-12-01T10:30:00Z', 'today'], // 07:30: before it opens
    ['2026-12-01T15:00:00Z', 'now'], // 12:00
    ['2026-12-01T23:30:00Z', 'tomorrow'], // 20:30: closed for the day
  ] as const)('a call asked at %s can happen %s', (iso, when) => expect(callWindow(at(iso), SP)).toBe(when));

  it('inside the window a follow-up goes out when due', () => {
    expect(nextBusinessMoment(at('2026-12-01T15:00:00Z'), SP)).toBe(at('2026-12-01T15:00:00Z'));
  });

  it('in the evening it waits for the next morning at 08:00', () => {
    expect(nextBusinessMoment(at('2026-12-01T23:30:00Z'), SP)).toBe(at('2026-12-02T11:00:00Z'));
  });

  it('before dawn it waits for 08:00 the same day', () => {
    expect(nextBusinessMoment(at('2026-12-02T06:15:00Z'), SP)).toBe(at('2026-12-02T11:00:00Z'));
  });

  it('refuses malformed hours and zones', () => {
    expect(() => parseHours('8h às 20h', 'America/Sao_Paulo')).toThrow();
    expect(() => parseHours('20:00-08:00', 'America/Sao_Paulo')).toThrow();
    expect(() => parseHours('08:00-20:00', 'Mars/Olympus')).toThrow();
  });
});
