/** Lívia's configuration variables: defaults, and each bad value refused naming its variable. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liviaSettings } from '../src/boot/livia.ts';
import { ConfigError, loadConfig } from '../src/config.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'livia-config-'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('Lívia configuration', () => {
  it('defaults: 1.99% a.m., 30% of income, 08:00–20:00 in São Paulo, follow-ups at 1 h and 24 h', async () => {
    const c = await loadConfig({ DATA_DIR: dataDir });
    expect(c.livia).toMatchObject({
      monthlyRate: 0.0199,
      maxIncomeShare: 0.3,
      hours: { startMinute: 480, endMinute: 1200, timeZone: 'America/Sao_Paulo' },
      followUpMs: [3_600_000, 86_400_000],
      transcriptionModel: 'whisper-large-v3-turbo',
    });
    expect(liviaSettings(c)).toMatchObject({ monthlyRate: 0.0199, followUpMs: [3_600_000, 86_400_000] });
  });

  it('takes its variables', async () => {
    const c = await loadConfig({ DATA_DIR: dataDir, LIVIA_MONTHLY_RATE: '0.025', LIVIA_HOURS: '09:00-18:30', LIVIA_FOLLOW_UP_MINUTES: '30, 720' });
    expect(c.livia.monthlyRate).toBe(0.025);
    expect(c.livia.hours).toMatchObject({ startMinute: 540, endMinute: 1110 });
    expect(c.livia.followUpMs).toEqual([1_800_000, 43_200_000]);
  });

  it.each([
    ['LIVIA_MONTHLY_RATE', '-1'],
    ['LIVIA_MAX_INCOME_SHARE', '0'],
    ['LIVIA_HOURS', '8h-20h'],
    ['LIVIA_HOURS', '20:00-08:00'],
    ['LIVIA_TIMEZONE', 'Mars/Olympus'],
    ['LIVIA_FOLLOW_UP_MINUTES', '60'],
    ['LIVIA_FOLLOW_UP_MINUTES', '1440,60'],
  ])('%s=%s is refused, naming the variable', async (name, value) => {
    const err = await loadConfig({ DATA_DIR: dataDir, [name]: value }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(name);
  });
});
