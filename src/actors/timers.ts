/**
 * Durable timers as named actions. A machine lists `durableTimers` among its setup actions and
 * uses them by name; the runtime turns them into pg-boss jobs (startAfter) written in the same
 * transaction as the snapshot, and cancels them when asked (typically in the state's `exit`).
 *
 * @example
 * setup({ actions: { ...durableTimers } }).createMachine({
 *   states: { waiting: {
 *     entry: { type: 'timer.start', params: { key: 'followUp', delayMs: 86_400_000, event: { type: 'followUp.due' } } },
 *     exit: { type: 'timer.cancel', params: { key: 'followUp' } },
 *     on: { 'followUp.due': 'followingUp' },
 *   } },
 * });
 */
export const TIMER_START = 'timer.start';
export const TIMER_CANCEL = 'timer.cancel';

export interface TimerStartParams {
  /** One armed timer per key per actor; starting a key again re-arms it. */
  key: string;
  delayMs?: number;
  /** An absolute due time (ISO 8601), instead of `delayMs`. */
  at?: string;
  event: { type: string; [k: string]: unknown };
}

export interface TimerCancelParams {
  key: string;
}

/** No-op placeholders: the runtime reads these actions from `transition()` and performs them. */
export const durableTimers = {
  [TIMER_START]: (_: unknown, _params: TimerStartParams) => {},
  [TIMER_CANCEL]: (_: unknown, _params: TimerCancelParams) => {},
};
