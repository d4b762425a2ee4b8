/**
 * The rule-based lead classifier: the fallback whenever Groq is not configured or fails.
 * Scores 0–100 from the requested amount, income, their ratio, the source, the message's intent
 * words and how complete the contact is; HOT ≥ 70, WARM ≥ 40, else COLD.
 *
 * @example
 * classifyByRules({ requestedAmount: 50000, monthlyIncome: 8000, source: 'site', message: 'Quero contratar hoje', hasPhone: true, hasEmail: true })
 * // => { score: 80, temperature: 'HOT', reasons: [...] }
 */
import type { Temperature } from './lead-status.ts';

export interface LeadFacts {
  requestedAmount?: number | null | undefined;
  monthlyIncome?: number | null | undefined;
  source?: string | null | undefined;
  message?: string | null | undefined;
  hasPhone: boolean;
  hasEmail: boolean;
}

export interface Classification {
  score: number;
  temperature: Temperature;
  reasons: string[];
}

const URGENT = /\b(urgente|hoje|agora|imediat\w*|r[aá]pido|preciso|quero contratar|fechar|assinar)\b/i;
const INTENT = /\b(cr[eé]dito|empr[eé]stimo|financiamento|financiar|consignado|simula\w*|parcela\w*|quero)\b/i;
const DOUBT = /\b(s[oó] pesquisando|curiosidade|talvez|depois|sem pressa|n[aã]o sei)\b/i;
const STRONG_SOURCES = new Set(['indicacao', 'indicação', 'referral', 'whatsapp', 'site']);
const WEAK_SOURCES = new Set(['facebook', 'instagram', 'ads', 'anuncio', 'anúncio']);

export function temperatureFor(score: number): Temperature {
  if (score >= 70) return 'HOT';
  if (score >= 40) return 'WARM';
  return 'COLD';
}

export function classifyByRules(f: LeadFacts): Classification {
  let score = 30;
  const reasons: string[] = [];
  const add = (points: number, reason: string) => {
    score += points;
    reasons.push(`${points >= 0 ? '+' : ''}${points} ${reason}`);
  };

  const amount = f.requestedAmount ?? undefined;
  const income = f.monthlyIncome ?? undefined;
  if (amount !== undefined && amount > 0) {
    if (amount >= 100_000) add(15, 'valor solicitado alto (≥ R$ 100 mil)');
    else if (amount >= 20_000) add(10, 'valor solicitado relevante (≥ R$ 20 mil)');
    else add(5, 'valor solicitado informado');
  }
  if (income !== undefined && income > 0) {
    if (income >= 10_000) add(15, 'renda mensal alta (≥ R$ 10 mil)');
    else if (income >= 4_000) add(10, 'renda mensal média (≥ R$ 4 mil)');
    else add(3, 'renda mensal informada');
  }
  if (amount !== undefined && amount > 0 && income !== undefined && income > 0) {
    const months = amount / income;
    if (months <= 12) add(10, 'valor compatível com a renda (≤ 12 rendas)');
    else if (months <= 36) add(0, 'valor pede prazo longo (≤ 36 rendas)');
    else add(-15, 'valor muito acima da renda (> 36 rendas)');
  }
  const source = f.source?.trim().toLowerCase();
  if (source && STRONG_SOURCES.has(source)) add(5, `origem forte (${source})`);
  else if (source && WEAK_SOURCES.has(source)) add(-5, `origem fria (${source})`);

  const message = f.message ?? '';
  if (URGENT.test(message)) add(15, 'mensagem com urgência');
  else if (INTENT.test(message)) add(8, 'mensagem com intenção de crédito');
  if (DOUBT.test(message)) add(-10, 'mensagem indica pouca intenção');

  if (f.hasPhone && f.hasEmail) add(5, 'contato completo (telefone e e-mail)');
  else if (!f.hasPhone) add(-10, 'sem telefone');

  // Every classification says why, even when nothing moved the score.
  if (reasons.length === 0) reasons.push('+0 poucos dados; pontuação base');

  const bounded = Math.max(0, Math.min(100, Math.round(score)));
  return { score: bounded, temperature: temperatureFor(bounded), reasons };
}
