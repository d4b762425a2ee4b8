/**
 * What Lívia must collect, and whether a value is plausible: zod schemas per field (an amount of
 * R$ 0, a term of 900 months or an income of R$ 3 are refused), the polite question for each field
 * with an example, and the polite re-ask when a value is refused. Pure; the conversation machine
 * runs every extracted value through `validateField`, whichever brain extracted it.
 *
 * @example
 * validateField('term_months', 900) // => { ok: false, reask: 'Hmm, 900 meses fica fora do prazo ... Por exemplo: "24 meses".' }
 * validateField('requested_amount', 30000) // => { ok: true, value: 30000 }
 * missingFields({ name: 'Carla' }, 'INTRO') // => ['purpose']
 */
import { z } from 'zod';
import type { Field } from './extraction.ts';
import { formatBRL } from './simulation.ts';

export const STAGES = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION', 'TRANSFERRED', 'HUMAN', 'ABANDONED', 'OPTED_OUT'] as const;
export type Stage = (typeof STAGES)[number];
/** The stages in which Lívia talks, in order. */
export const ACTIVE_STAGES = ['INTRO', 'QUALIFICATION', 'SIMULATION', 'CONVERSION'] as const;
export type ActiveStage = (typeof ACTIVE_STAGES)[number];

export const LIMITS = {
  amount: { min: 500, max: 1_000_000 },
  income: { min: 300, max: 1_000_000 },
  term: { min: 3, max: 120 },
} as const;

export const fieldSchemas = {
  name: z
    .string()
    .trim()
    .min(2)
    .max(80)
    .regex(/^[A-Za-zÀ-ÖØ-öø-ÿ'’ .-]+$/),
  purpose: z.string().trim().min(3).max(200),
  requested_amount: z.number().finite().min(LIMITS.amount.min).max(LIMITS.amount.max),
  monthly_income: z.number().finite().min(LIMITS.income.min).max(LIMITS.income.max),
  term_months: z.number().int().min(LIMITS.term.min).max(LIMITS.term.max),
} satisfies Record<Field, z.ZodType>;

/** The record of a consent or an opt-out: when, and the exact words asked and answered (LGPD). */
export const consentRecord = z.object({
  value: z.boolean(),
  at: z.string(),
  asked: z.string(),
  answered: z.string(),
});
export type ConsentRecord = z.infer<typeof consentRecord>;

/** The conversation's `data`, with the webhook's names where they overlap (CONTRACT.md). */
export const conversationData = z.object({
  name: fieldSchemas.name.optional(),
  purpose: fieldSchemas.purpose.optional(),
  requested_amount: fieldSchemas.requested_amount.optional(),
  monthly_income: fieldSchemas.monthly_income.optional(),
  term_months: fieldSchemas.term_months.optional(),
  /** The quote Lívia sent last (from simulation.ts only). */
  installment: z.number().optional(),
  total: z.number().optional(),
  monthly_rate: z.number().optional(),
  /** The customer accepted the quote (or its counter-offer) in SIMULATION. */
  offer_accepted: z.boolean().optional(),
  consent: consentRecord.optional(),
  opt_out: consentRecord.optional(),
});
export type ConversationData = z.infer<typeof conversationData>;

/** The fields each stage must collect before the machine lets it move on. */
export const STAGE_FIELDS: Record<'INTRO' | 'QUALIFICATION', readonly Field[]> = {
  INTRO: ['name', 'purpose'],
  QUALIFICATION: ['requested_amount', 'monthly_income', 'term_months'],
};
const ALL_FIELDS: readonly Field[] = [...STAGE_FIELDS.INTRO, ...STAGE_FIELDS.QUALIFICATION];

/** What is still missing for `stage` and every stage before it, in the order Lívia asks. */
export function missingFields(data: ConversationData, stage: Stage): Field[] {
  const upTo = stage === 'INTRO' ? STAGE_FIELDS.INTRO : ALL_FIELDS;
  return upTo.filter((f) => data[f] === undefined);
}

export function hasAll(data: ConversationData, fields: readonly Field[]): boolean {
  return fields.every((f) => data[f] !== undefined);
}

export const QUESTIONS: Record<Field, string> = {
  name: 'Como posso te chamar?',
  purpose: 'Me conta: para que você precisa do crédito? Por exemplo: "quitar dívidas" ou "reformar a casa".',
  requested_amount: 'Qual valor você gostaria de pegar? Pode escrever do seu jeito, por exemplo: "30 mil".',
  monthly_income: 'Qual é a sua renda mensal, mais ou menos? Por exemplo: "ganho 4 mil".',
  term_months: 'Em quantos meses você gostaria de pagar? Por exemplo: "24 meses" ou "em 36x".',
};

const LABEL: Record<Field, string> = {
  name: 'esse nome',
  purpose: 'esse motivo',
  requested_amount: 'esse valor',
  monthly_income: 'essa renda',
  term_months: 'esse prazo',
};

function shown(field: Field, value: unknown): string {
  if (typeof value !== 'number') return LABEL[field];
  if (field === 'term_months') return `${value} meses`;
  return formatBRL(value);
}

const REASK: Record<Field, (value: unknown) => string> = {
  name: () => 'Desculpe, não entendi bem o seu nome. Pode escrever só o nome? Por exemplo: "Carla Souza".',
  purpose: () => 'Desculpe, não entendi para que é o crédito. Pode me contar em poucas palavras? Por exemplo: "reformar a casa".',
  requested_amount: (v) =>
    `Hmm, ${shown('requested_amount', v)} fica fora do que conseguimos simular (de ${formatBRL(LIMITS.amount.min)} a ${formatBRL(LIMITS.amount.max)}). ` +
    'Qual valor você precisa? Por exemplo: "15 mil".',
  monthly_income: (v) =>
    `Hmm, ${shown('monthly_income', v)} de renda mensal não parece certo. Pode me dizer quanto você recebe por mês? Por exemplo: "ganho 3.500".`,
  term_months: (v) =>
    `Hmm, ${shown('term_months', v)} fica fora dos prazos que temos (de ${LIMITS.term.min} a ${LIMITS.term.max} meses). ` +
    'Em quantos meses prefere pagar? Por exemplo: "24 meses".',
};

export type FieldCheck<T = unknown> = { ok: true; value: T } | { ok: false; reask: string };

/** The same check for every value, whichever brain extracted it. */
export function validateField(field: Field, value: unknown): FieldCheck {
  const parsed = fieldSchemas[field].safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reask: REASK[field](value) };
}
