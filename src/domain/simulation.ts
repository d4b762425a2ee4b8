/**
 * The credit simulation Lívia quotes: installments by the Price table (French amortization, PMT),
 * the total paid, the installment against a share of the customer's income, and a counter-offer
 * (a longer term, or a lower amount) when it does not fit. Pure: the numbers Lívia sends come only
 * from here, whatever the customer or a language model says.
 *
 * @example
 * pmt(10_000, 12, 0.01)                                            // => 888.49
 * simulate({ amount: 30_000, termMonths: 24, monthlyIncome: 5_000 }, { monthlyRate: 0.02, maxIncomeShare: 0.3 })
 * // => { installment: 1586.13, total: 38067.12, fits: false, counterOffer: { kind: 'longer_term', ... } }
 * formatBRL(1586.13)                                               // => 'R$ 1.586,13'
 */

export interface SimulationSettings {
  /** Monthly interest rate as a fraction (0.0199 is 1.99% a.m.). */
  monthlyRate: number;
  /** Largest share of the monthly income one installment may take (0.3 is 30%). */
  maxIncomeShare: number;
  /** Longest term a counter-offer may propose. */
  maxTermMonths?: number;
  /** Smallest amount a counter-offer may propose. */
  minAmount?: number;
}

export interface SimulationRequest {
  amount: number;
  termMonths: number;
  monthlyIncome: number;
}

export type CounterOffer =
  | { kind: 'longer_term'; amount: number; termMonths: number; installment: number; total: number }
  | { kind: 'lower_amount'; amount: number; termMonths: number; installment: number; total: number };

export interface Simulation {
  amount: number;
  termMonths: number;
  monthlyRate: number;
  installment: number;
  total: number;
  /** The most the income allows per month (share × income), in cents-rounded reais. */
  maxInstallment: number;
  fits: boolean;
  /** Present when the installment does not fit the income and some offer does. */
  counterOffer?: CounterOffer;
}

export const DEFAULT_MAX_TERM_MONTHS = 120;
export const DEFAULT_MIN_AMOUNT = 500;

const cents = (v: number): number => Math.round(v * 100) / 100;

/**
 * The fixed installment that pays `amount` in `termMonths` at `monthlyRate`, rounded to cents:
 * PMT = A·r / (1 − (1 + r)^−n); with r = 0 it is A / n.
 */
export function pmt(amount: number, termMonths: number, monthlyRate: number): number {
  if (!(amount >= 0) || !Number.isInteger(termMonths) || termMonths < 1 || !(monthlyRate >= 0)) {
    throw new RangeError(`pmt: invalid arguments (${amount}, ${termMonths}, ${monthlyRate})`);
  }
  if (monthlyRate === 0) return cents(amount / termMonths);
  return cents((amount * monthlyRate) / (1 - (1 + monthlyRate) ** -termMonths));
}

/** The largest amount an installment pays off in `termMonths` (the present value), unrounded. */
export function presentValue(installment: number, termMonths: number, monthlyRate: number): number {
  if (monthlyRate === 0) return installment * termMonths;
  return (installment * (1 - (1 + monthlyRate) ** -termMonths)) / monthlyRate;
}

export function simulate(req: SimulationRequest, s: SimulationSettings): Simulation {
  const installment = pmt(req.amount, req.termMonths, s.monthlyRate);
  const maxInstallment = Math.floor(req.monthlyIncome * s.maxIncomeShare * 100) / 100;
  const base: Simulation = {
    amount: req.amount,
    termMonths: req.termMonths,
    monthlyRate: s.monthlyRate,
    installment,
    total: cents(installment * req.termMonths),
    maxInstallment,
    fits: installment <= maxInstallment,
  };
  if (base.fits) return base;
  const counterOffer = counterOfferFor(req, maxInstallment, s);
  return counterOffer ? { ...base, counterOffer } : base;
}

/**
 * First the same amount over the shortest longer term that fits (up to the longest term); when
 * none does, the largest amount (rounded down to R$ 100) that fits in the term asked for.
 */
function counterOfferFor(req: SimulationRequest, maxInstallment: number, s: SimulationSettings): CounterOffer | undefined {
  const maxTerm = s.maxTermMonths ?? DEFAULT_MAX_TERM_MONTHS;
  for (let n = req.termMonths + 1; n <= maxTerm; n++) {
    const installment = pmt(req.amount, n, s.monthlyRate);
    if (installment <= maxInstallment) {
      return { kind: 'longer_term', amount: req.amount, termMonths: n, installment, total: cents(installment * n) };
    }
  }
  const amount = Math.floor(presentValue(maxInstallment, req.termMonths, s.monthlyRate) / 100) * 100;
  if (amount < (s.minAmount ?? DEFAULT_MIN_AMOUNT)) return undefined;
  const installment = pmt(amount, req.termMonths, s.monthlyRate);
  return { kind: 'lower_amount', amount, termMonths: req.termMonths, installment, total: cents(installment * req.termMonths) };
}

const BRL = new Intl.NumberFormat('pt-BR', { style: 'currency', currency: 'BRL' });
const PERCENT = new Intl.NumberFormat('pt-BR', { style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** `R$ 1.586,13`, with an ordinary space after `R$` (Intl puts a no-break space there). */
export function formatBRL(value: number): string {
  return BRL.format(value).replace(/\u00a0/g, ' ');
}

/** `1,99%` */
export function formatRate(rate: number): string {
  return PERCENT.format(rate).replace(/\u00a0/g, ' ');
}

/** The quote in Lívia's words: the installment, term, total, rate, and the counter-offer if any. */
export function describeSimulation(sim: Simulation): string {
  const lines = [
    `Simulei aqui para você: ${formatBRL(sim.amount)} em ${sim.termMonths} parcelas de ${formatBRL(sim.installment)} ` +
      `(taxa de ${formatRate(sim.monthlyRate)} ao mês, total de ${formatBRL(sim.total)}).`,
  ];
  if (sim.fits) {
    lines.push('A parcela cabe na sua renda. Quer seguir com essa proposta?');
  } else if (sim.counterOffer?.kind === 'longer_term') {
    const o = sim.counterOffer;
    lines.push(
      `Essa parcela passa de ${formatBRL(sim.maxInstallment)}, o máximo que recomendamos para a sua renda. ` +
        `Em ${o.termMonths} parcelas ela fica em ${formatBRL(o.installment)} (total de ${formatBRL(o.total)}). Quer seguir assim?`,
    );
  } else if (sim.counterOffer) {
    const o = sim.counterOffer;
    lines.push(
      `Essa parcela passa de ${formatBRL(sim.maxInstallment)}, o máximo que recomendamos para a sua renda. ` +
        `Consigo ${formatBRL(o.amount)} em ${o.termMonths} parcelas de ${formatBRL(o.installment)} (total de ${formatBRL(o.total)}). Quer seguir assim?`,
    );
  } else {
    lines.push(`Essa parcela passa de ${formatBRL(sim.maxInstallment)}, o máximo que recomendamos para a sua renda. Quer tentar outro valor ou prazo?`);
  }
  return lines.join(' ');
}
