/**
 * Outbound pacing per session (`WHATSAPP_SEND_PER_MINUTE`): WhatsApp bans bulk senders. Sends of one
 * session run one at a time (the session actor's effects are ordered), so each waits for its slot.
 *
 * @example
 * const t = new SendThrottle(20);
 * await t.take('consultant', signal); // the 21st in a minute waits until the first is a minute old
 */
export class SendThrottle {
  readonly #sent = new Map<string, number[]>();
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long the next send of this session must wait (0: now). */
  waitMs(session: string): number {
    const window = this.#window(session);
    if (window.length < this.perMinute) return 0;
    return Math.max(0, window[0]! + 60_000 - this.now());
  }

  async take(session: string, signal?: AbortSignal): Promise<void> {
    for (let wait = this.waitMs(session); wait > 0; wait = this.waitMs(session)) {
      if (signal?.aborted) throw new Error('send aborted while throttled');
      await new Promise((r) => setTimeout(r, wait));
    }
    this.#window(session).push(this.now());
  }

  #window(session: string): number[] {
    let w = this.#sent.get(session);
    if (!w) this.#sent.set(session, (w = []));
    const since = this.now() - 60_000;
    while (w.length > 0 && w[0]! <= since) w.shift();
    return w;
  }
}
