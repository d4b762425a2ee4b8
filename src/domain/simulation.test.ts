import { describe, expect, it } from 'vitest';
import { describeSimulation, formatBRL, formatRate, pmt, presentValue, simulate } from './simulation.ts';

describe('pmt (Price table)', () => {
  it.each([
    // Textbook values: HP-12C / spreadsheet PMT, rounded to cents.
    [10_000, 12, 0.01, 888.49],
    [1_000, 10, 0.05, 129.5],
    [100_000, 36, 0.015, 3615.24],
    [30_000, 24, 0.02, 1586.13],
    [50_000, 60, 0.0199, 1434.92],
    [12_000, 12, 0, 1000],
  ])('pmt(%d, %d, %d) = %d', (amount, n, rate, expected) => {
    expect(pmt(amount, n, rate)).toBe(expected);
  });

  it('pays the loan off: the present value of the installments is the amount', () => {
    const installment = pmt(25_000, 48, 0.018);
    expect(Math.abs(presentValue(installment, 48, 0.018) - 25_000)).toBeLessThan(0.5);
  });

  it.each([
    [1000, 0, 0.01],
    [1000, 1.5, 0.01],
    [-1, 12, 0.01],
    [1000, 12, -0.01],
    [Number.NaN, 12, 0.01],
  ])('refuses pmt(%d, %d, %d)', (a, n, r) => {
    expect(() => pmt(a, n, r)).toThrow(RangeError);
  });
});

describe('simulate', () => {
  const s = { monthlyRate: 0.02, maxIncomeShare: 0.3 };

  it('an installment within the income share fits, with the total paid', () => {
    const sim = simulate({ amount: 10_000, termMonths: 12, monthlyIncome: 5_000 }, s);
    expect(sim).toMatchObject({ installment: 945.6, total: 11347.2, maxInstallment: 1500, fits: true });
    expect(sim.counterOffer).toBeUndefined();
  });

  it('too large an installment → the shortest longer term that fits', () => {
    const sim = simulate({ amount: 30_000, termMonths: 24, monthlyIncome: 5_000 }, s);
    expect(sim.installment).toBe(1586.13);
    expect(sim.fits).toBe(false);
    expect(sim.counterOffer?.kind).toBe('longer_term');
    const o = sim.counterOffer!;
    expect(o.amount).toBe(30_000);
    expect(o.installment).toBeLessThanOrEqual(1500);
    // The shortest: one month less does not fit.
    expect(pmt(30_000, o.termMonths - 1, 0.02)).toBeGreaterThan(1500);
    expect(o.termMonths).toBe(26);
    expect(o.installment).toBe(pmt(30_000, 26, 0.02));
    expect(o.total).toBe(Math.round(o.installment * 26 * 100) / 100);
  });

  it('no term up to the longest fits → a lower amount in the term asked for, rounded down to R$ 100', () => {
    const sim = simulate({ amount: 200_000, termMonths: 24, monthlyIncome: 3_000 }, { ...s, maxTermMonths: 60 });
    expect(sim.fits).toBe(false);
    expect(sim.counterOffer?.kind).toBe('lower_amount');
    const o = sim.counterOffer!;
    expect(o.termMonths).toBe(24);
    expect(o.amount % 100).toBe(0);
    expect(o.installment).toBeLessThanOrEqual(900);
    expect(pmt(o.amount + 100, 24, 0.02)).toBeGreaterThan(900);
    expect(o.amount).toBe(17000);
  });

  it('an income too small for even the smallest amount → no counter-offer', () => {
    const sim = simulate({ amount: 50_000, termMonths: 120, monthlyIncome: 30 }, { ...s, maxTermMonths: 120 });
    expect(sim.fits).toBe(false);
    expect(sim.counterOffer).toBeUndefined();
    expect(describeSimulation(sim)).toMatch(/outro valor ou prazo/);
  });
});

describe('pt-BR formatting', () => {
  it.each([
    [1586.13, 'R$ 1.586,13'],
    [30_000, 'R$ 30.000,00'],
    [0.5, 'R$ 0,50'],
    [1_234_567.891, 'R$ 1.234.567,89'],
  ])('formatBRL(%d) = %s', (v, s) => {
    expect(formatBRL(v)).toBe(s);
  });

  it('rates as percentages', () => {
    expect(formatRate(0.0199)).toBe('1,99%');
  });

  it('the quote names installment, term, total and rate from the simulation', () => {
    const text = describeSimulation(simulate({ amount: 10_000, termMonths: 12, monthlyIncome: 5_000 }, { monthlyRate: 0.02, maxIncomeShare: 0.3 }));
    expect(text).toContain('R$ 10.000,00 em 12 parcelas de R$ 945,60');
    expect(text).toContain('2,00% ao mês');
    expect(text).toContain('R$ 11.347,20');
  });
});
