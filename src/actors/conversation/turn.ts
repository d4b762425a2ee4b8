/**
 * One turn of the conversation, decided by the machine from what a brain read: which extracted
 * values are taken (each validated, numbers only when the customer actually wrote them), which
 * stage the data allows, and what Lívia answers. Pure and deterministic: the brain proposes, this
 * module disposes. The LLM never sets a number, a stage or a guard:
 *
 * - a number is taken only if the deterministic reader finds that same value in the customer's
 *   own words for this turn (`moneyIn`), then it passes the same zod validation as any other;
 * - a yes/no (acceptance, consent) is read only by the deterministic reader;
 * - the stage follows from the collected data alone;
 * - a brain reply is sent only when the stage did not change, nothing was refused, and it quotes
 *   no number, currency, percentage or promise; otherwise Lívia's scripted words go out, and every
 *   figure she quotes comes from simulation.ts.
 *
 * @example
 * const out = decideTurn({ stage: 'QUALIFICATION', data, expecting: 'term_months', text: 'em 24x', replies: 3, lastReply }, decision, settings, at);
 * out.stage // => 'SIMULATION'; out.reply starts with 'Simulei aqui para você: ...'
 */
import { answerIn, extract, moneyIn, type Extracted, type Field } from '../../domain/extraction.ts';
import {
  hasAll,
  missingFields,
  STAGE_FIELDS,
  validateField,
  type ActiveStage,
  type ConversationData,
  type Stage,
} from '../../domain/qualification.ts';
import { describeSimulation, simulate, type SimulationSettings } from '../../domain/simulation.ts';
import { askFor, ASK_OFFER, CONSENT_DECLINED, CONSENT_QUESTION, firstName, GREETING, handoffText, NO_OFFER, OFFER_DECLINED } from './script.ts';

export const INTENTS = ['answer', 'accept', 'decline', 'question', 'opt_out', 'human', 'other'] as const;
export type Intent = (typeof INTENTS)[number];

/** What a brain returns for a turn (scripted or LLM); nothing in it is trusted as is. */
export interface Decision {
  reply: string;
  extracted: Partial<Record<Field, string | number | null>> & { answer?: 'yes' | 'no' | null };
  intent: Intent;
  brain: 'scripted' | 'groq';
  note?: string | undefined;
}

export interface TurnState {
  stage: ActiveStage;
  data: ConversationData;
  expecting: Field | 'answer' | null;
  /** The customer's messages of this turn, joined. */
  text: string;
  replies: number;
  /** What Lívia asked last (the exact words of a consent question). */
  lastReply: string | null;
  /**
   * What a "yes" accepts: the quote itself when it fits the income, its counter-offer when it does
   * not, nothing when neither does.
   */
  offer: { amount: number; termMonths: number } | null;
}

export interface TurnOutcome {
  stage: ActiveStage | 'TRANSFERRED';
  data: ConversationData;
  reply: string;
  expecting: Field | 'answer' | null;
  offer: { amount: number; termMonths: number } | null;
  /** Values proposed by the brain and not taken, with why (for the journal and tests). */
  dropped: { field: string; value: unknown; why: string }[];
}

const NUMERIC: readonly Field[] = ['requested_amount', 'monthly_income', 'term_months'];
const FIELDS: readonly Field[] = ['name', 'purpose', ...NUMERIC];

/** A brain reply Lívia may send as it is: no figures, no percentages, no promises. */
export function isSafeReply(reply: string): boolean {
  const r = reply.trim();
  if (r.length === 0 || r.length > 600) return false;
  if (/\d|R\$|%|\breais\b|\bmil\b|milh[aã]o|milh[oõ]es/i.test(r)) return false;
  return !/aprovad|garantid|liberad|sem juros|taxa zero|juros zero/i.test(r);
}

export function decideTurn(s: TurnState, d: Decision, settings: SimulationSettings, at: string): TurnOutcome {
  const dropped: TurnOutcome['dropped'] = [];
  const refusals: string[] = [];
  const said = moneyIn(s.text);
  const reread = extract(s.text, { expecting: s.expecting ?? undefined });
  const data: ConversationData = { ...s.data };
  const changed = new Set<Field>();

  for (const field of FIELDS) {
    const proposed = d.extracted[field] ?? undefined;
    let value: unknown = proposed;
    if (NUMERIC.includes(field) && proposed !== undefined) {
      const n = proposed;
      if (typeof n !== 'number' || !(said.some((x) => Math.abs(x - n) < 0.005) || (field === 'term_months' && termSaid(reread, n)))) {
        dropped.push({ field, value: proposed, why: 'not in the customer’s words' });
        value = undefined;
      }
    }
    // The scripted reading fills what a brain left out or got wrong (a model that missed "em 24x").
    if (value === undefined) value = reread[field];
    if (value === undefined) continue;
    const check = validateField(field, value);
    if (!check.ok) {
      refusals.push(check.reask);
      dropped.push({ field, value, why: 'implausible' });
      continue;
    }
    if (data[field] !== check.value) {
      (data as Record<Field, unknown>)[field] = check.value;
      changed.add(field);
    }
  }

  const answer = answerIn(s.text);
  const greet = s.replies === 0 ? `${GREETING} ` : '';
  const out = (stage: TurnOutcome['stage'], reply: string, extra: Partial<TurnOutcome> = {}): TurnOutcome => ({
    stage,
    data,
    reply: `${greet}${reply}`,
    expecting: stage === 'SIMULATION' || stage === 'CONVERSION' ? 'answer' : (missingFields(data, stage === 'TRANSFERRED' ? 'QUALIFICATION' : stage)[0] ?? null),
    offer: s.offer,
    dropped,
    ...extra,
  });

  // A refused value is asked for again, politely, and the conversation does not move on.
  if (refusals.length > 0) {
    return { ...out(s.stage, refusals[0]!), expecting: (dropped.find((x) => x.why === 'implausible')?.field as Field | undefined) ?? s.expecting };
  }

  const numbersChanged = NUMERIC.some((f) => changed.has(f));
  const qualified = hasAll(data, [...STAGE_FIELDS.INTRO, ...STAGE_FIELDS.QUALIFICATION]);

  if (s.stage === 'INTRO' || s.stage === 'QUALIFICATION' || (numbersChanged && qualified)) {
    if (qualified) return quote(data, settings, out, s.stage === 'INTRO' || s.stage === 'QUALIFICATION' ? firstName(data) : undefined);
    const stage: ActiveStage = hasAll(data, STAGE_FIELDS.INTRO) ? 'QUALIFICATION' : 'INTRO';
    const missing = missingFields(data, 'QUALIFICATION');
    const moved = stage !== s.stage;
    if (!moved && changed.size === 0 && d.brain === 'groq' && isSafeReply(d.reply)) return out(stage, d.reply.trim());
    return out(stage, askFor(missing, data));
  }

  if (s.stage === 'SIMULATION') {
    if (answer === 'yes' && s.offer) {
      const sim = simulate({ amount: s.offer.amount, termMonths: s.offer.termMonths, monthlyIncome: data.monthly_income! }, settings);
      const accepted: ConversationData = {
        ...data,
        requested_amount: s.offer.amount,
        term_months: s.offer.termMonths,
        installment: sim.installment,
        total: sim.total,
        offer_accepted: true,
      };
      return { ...out('CONVERSION', CONSENT_QUESTION), data: accepted };
    }
    if (answer === 'yes') return out('SIMULATION', NO_OFFER);
    if (answer === 'no') return out('SIMULATION', OFFER_DECLINED);
    if (d.brain === 'groq' && isSafeReply(d.reply)) return out('SIMULATION', `${d.reply.trim()} ${ASK_OFFER}`);
    return out('SIMULATION', ASK_OFFER);
  }

  // CONVERSION: the consent to be contacted, stored with the exact words asked and answered.
  if (answer === 'yes' || answer === 'no') {
    const consent = { value: answer === 'yes', at, asked: s.lastReply ?? CONSENT_QUESTION, answered: s.text };
    const withConsent: ConversationData = { ...data, consent };
    if (answer === 'yes') return { ...out('TRANSFERRED', handoffText(firstName(data))), data: withConsent, expecting: null };
    return { ...out('CONVERSION', CONSENT_DECLINED), data: withConsent };
  }
  if (d.brain === 'groq' && isSafeReply(d.reply)) return out('CONVERSION', `${d.reply.trim()} ${CONSENT_QUESTION}`);
  return out('CONVERSION', CONSENT_QUESTION);
}

/** "2 anos" reads as 24 months: the customer said 2, and the reader turned it into 24. */
function termSaid(reread: Extracted, value: number): boolean {
  return reread.term_months === value;
}

function quote(
  data: ConversationData,
  settings: SimulationSettings,
  out: (stage: Stage & TurnOutcome['stage'], reply: string, extra?: Partial<TurnOutcome>) => TurnOutcome,
  thankName: string | undefined,
): TurnOutcome {
  const sim = simulate({ amount: data.requested_amount!, termMonths: data.term_months!, monthlyIncome: data.monthly_income! }, settings);
  const quoted: ConversationData = {
    ...data,
    installment: sim.installment,
    total: sim.total,
    monthly_rate: sim.monthlyRate,
    offer_accepted: false,
  };
  const offer = sim.fits
    ? { amount: sim.amount, termMonths: sim.termMonths }
    : sim.counterOffer
      ? { amount: sim.counterOffer.amount, termMonths: sim.counterOffer.termMonths }
      : null;
  const thanks = thankName ? `Obrigada, ${thankName}! ` : '';
  return { ...out('SIMULATION', `${thanks}${describeSimulation(sim)}`), data: quoted, offer, expecting: 'answer' };
}
