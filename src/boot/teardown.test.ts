import { describe, expect, it } from 'vitest';
import type { Logger } from '../log.ts';
import { Teardown } from './teardown.ts';

function recordingLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, obj, msg });
  return { lines, log: { warn: at('warn'), error: at('error'), info: at('info') } as unknown as Logger };
}

describe('Teardown', () => {
  it('runs the steps newest first, names a slow one while it runs, and goes on past a failed one', async () => {
    const { lines, log } = recordingLog();
    const t = new Teardown(log, { slowStepMs: 50 });
    const order: string[] = [];
    t.push(async () => void order.push('pool'), 'database pool');
    t.push(async () => {
      order.push('actors');
      throw new Error('boom');
    }, 'actor system');
    t.push(async () => {
      order.push('http');
      await new Promise((r) => setTimeout(r, 150));
    }, 'HTTP server');
    await t.run();
    expect(order).toEqual(['http', 'actors', 'pool']);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.obj.step)).toEqual(['HTTP server']);
    expect(lines.filter((l) => l.level === 'error').map((l) => l.obj.step)).toEqual(['actor system']);
    // Run once: a second run has nothing left.
    await t.run();
    expect(order).toHaveLength(3);
  });
});

describe('Teardown with a budget', () => {
  it('waits for a slow step only as long as the budget allows, and still runs the steps after it', async () => {
    const { lines, log } = recordingLog();
    const t = new Teardown(log, { slowStepMs: 10_000 });
    const order: string[] = [];
    t.push(async () => void order.push('pool'), 'database pool');
    // A step bounded at 5 s of its own (a pipeline waiting for its jobs, on a database just back).
    t.push(() => new Promise<void>((r) => setTimeout(r, 5000).unref()), 'lead pipeline');
    const started = Date.now();
    await t.run({ budgetMs: 400 });
    const ms = Date.now() - started;
    expect(order).toEqual(['pool']);
    expect(ms).toBeLessThan(4000);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.obj.step)).toEqual(['lead pipeline']);
  });
});
