import { describe, expect, it } from 'vitest';
import { generateDemoData } from './demo-seed.ts';

const DAY = 86_400_000;

describe('generateDemoData', () => {
  it('keeps every lead inside the 60 days before now, whatever day now is (a Sunday at the edge moved a lead out)', () => {
    const start = Date.UTC(2026, 0, 1, 12);
    for (let d = 0; d < 120; d++) {
      const now = new Date(start + d * DAY + (d % 24) * 3_600_000);
      const { leads } = generateDemoData({ consultantIds: ['a', 'b'], count: 300, now, seed: 20240601 });
      for (const l of leads) {
        expect(l.createdAt.getTime(), `now=${now.toISOString()}`).toBeGreaterThanOrEqual(now.getTime() - 60 * DAY);
        expect(l.createdAt.getTime()).toBeLessThanOrEqual(now.getTime());
      }
    }
  });
});
