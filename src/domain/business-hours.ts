/**
 * When Lívia may write unprompted: follow-ups go out only within business hours (`LIVIA_HOURS`,
 * default 08:00–20:00, in America/Sao_Paulo). Pure: the earliest moment at or after a given one
 * that falls inside the window, computed in the configured time zone with Intl.
 *
 * @example
 * const hours = parseHours('08:00-20:00', 'America/Sao_Paulo');
 * nextBusinessMoment(Date.parse('2026-12-01T23:30:00Z'), hours) // 20:30 in São Paulo → 08:00 the next day (11:00Z)
 */

export interface BusinessHours {
  /** Minutes after local midnight the window opens, and closes (exclusive). */
  startMinute: number;
  endMinute: number;
  timeZone: string;
}

/** "08:00-20:00" → minutes; throws on anything else (config validation reports it). */
export function parseHours(spec: string, timeZone: string): BusinessHours {
  const m = /^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*$/.exec(spec);
  if (!m) throw new Error(`business hours must look like 08:00-20:00, got "${spec}"`);
  const startMinute = Number(m[1]) * 60 + Number(m[2]);
  const endMinute = Number(m[3]) * 60 + Number(m[4]);
  if (Number(m[2]) > 59 || Number(m[4]) > 59 || startMinute >= endMinute || endMinute > 24 * 60) {
    throw new Error(`business hours must open before they close within one day, got "${spec}"`);
  }
  new Intl.DateTimeFormat('en-US', { timeZone }); // throws RangeError on an unknown zone
  return { startMinute, endMinute, timeZone };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes (with fractions) after local midnight in `timeZone`. */
function localMinute(ms: number, timeZone: string): number {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return Number(parts.hour) * 60 + Number(parts.minute) + (Number(parts.second) + (ms % 1000) / 1000) / 60;
}

export function isBusinessTime(ms: number, h: BusinessHours): boolean {
  const m = localMinute(ms, h.timeZone);
  return m >= h.startMinute && m < h.endMinute;
}

/** `ms` itself when inside the window; otherwise the next opening (today's or tomorrow's). */
export function nextBusinessMoment(ms: number, h: BusinessHours): number {
  const m = localMinute(ms, h.timeZone);
  if (m >= h.startMinute && m < h.endMinute) return ms;
  const wait = m < h.startMinute ? h.startMinute - m : 24 * 60 - m + h.startMinute;
  const at = ms + Math.round(wait * 60_000);
  // A daylight-saving change in between moves local time by an hour: land on the opening anyway.
  const drift = localMinute(at, h.timeZone) - h.startMinute;
  return Math.abs(drift) > 0.5 && Math.abs(drift) <= 60 ? at - Math.round(drift * 60_000) : at;
}

/**
 * When someone can act on something asked at `ms`: `now` inside the window, `today` before it
 * opens, `tomorrow` after it closed (the window lies within one day).
 *
 * @example
 * callWindow(Date.parse('2026-12-01T23:30:00Z'), hours) // 20:30 in São Paulo → 'tomorrow'
 */
export function callWindow(ms: number, h: BusinessHours): 'now' | 'today' | 'tomorrow' {
  const m = localMinute(ms, h.timeZone);
  if (m < h.startMinute) return 'today';
  return m < h.endMinute ? 'now' : 'tomorrow';
}
