import { describe, expect, it } from 'vitest';
import { conversationData, missingFields, validateField } from './qualification.ts';

describe('validateField', () => {
  it.each([
    ['requested_amount', 0, /R\$ 0,00 fica fora/],
    ['requested_amount', 50_000_000, /fora do que conseguimos/],
    ['term_months', 900, /900 meses fica fora/],
    ['term_months', 12.5, /prazo|meses/],
    ['monthly_income', 3, /R\$ 3,00 de renda mensal não parece certo/],
    ['name', 'x', /seu nome/],
    ['name', 'R2D2', /seu nome/],
    ['purpose', '', /para que é o crédito/],
  ] as const)('%s = %s is refused with a polite re-ask and an example', (field, value, re) => {
    const r = validateField(field, value);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reask).toMatch(re);
    expect(r.reask).toMatch(/Por exemplo: "/);
  });

  it.each([
    ['requested_amount', 30_000],
    ['monthly_income', 4_500],
    ['term_months', 24],
    ['name', 'João Pedro da Silva'],
    ['purpose', 'reforma ou construção'],
  ] as const)('%s = %s is accepted', (field, value) => {
    expect(validateField(field, value)).toEqual({ ok: true, value });
  });
});

describe('conversation data', () => {
  it('lists what is missing in the order Lívia asks', () => {
    expect(missingFields({}, 'INTRO')).toEqual(['name', 'purpose']);
    expect(missingFields({ name: 'Ana', purpose: 'viagem' }, 'QUALIFICATION')).toEqual(['requested_amount', 'monthly_income', 'term_months']);
    expect(missingFields({ name: 'Ana', purpose: 'viagem', term_months: 12 }, 'QUALIFICATION')).toEqual(['requested_amount', 'monthly_income']);
  });

  it('refuses implausible data as a whole', () => {
    expect(conversationData.safeParse({ requested_amount: 0 }).success).toBe(false);
    expect(conversationData.safeParse({ term_months: 900 }).success).toBe(false);
    expect(conversationData.safeParse({ monthly_income: 3 }).success).toBe(false);
    expect(conversationData.safeParse({ name: 'Carla', requested_amount: 30_000, term_months: 24, monthly_income: 5_000 }).success).toBe(true);
  });
});
