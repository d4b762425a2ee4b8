/**
 * Reading what a Brazilian customer writes on WhatsApp: amounts (`30 mil`, `R$ 30.000,00`, `30k`,
 * `trinta mil`, `dois mil e quinhentos`, `1,5 milhão`), terms (`em 18x`, `2 anos`, `doze meses`),
 * income (`ganho 5 mil`), a name inside a sentence (`aqui é a Carla`), the purpose of the credit,
 * a yes or a no, and an opt-out (`PARAR`, `SAIR`, `não quero mais`). Pure and deterministic: this is
 * the scripted brain's reading, and the yardstick a language model's numbers are checked against.
 *
 * Values are only read, never judged: `R$ 0` is read as 0, and validation (qualification.ts) asks again.
 *
 * @example
 * extract('aqui é a Carla, quero 30 mil em 24x') // => { name: 'Carla', requested_amount: 30000, term_months: 24 }
 * extract('5 mil', { expecting: 'monthly_income' }) // => { monthly_income: 5000 }
 * isOptOut('PARAR')                              // => true
 */

export type Field = 'name' | 'purpose' | 'requested_amount' | 'monthly_income' | 'term_months';
export type Answer = 'yes' | 'no';

export interface Extracted {
  name?: string;
  purpose?: string;
  requested_amount?: number;
  monthly_income?: number;
  term_months?: number;
  answer?: Answer;
}

export interface ExtractOptions {
  /** What Lívia asked for last: a bare "5 mil" answers it. */
  expecting?: Field | 'answer' | undefined;
}

/** Lower case, no accents, single spaces: the form every pattern below is written against. */
export function fold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

// ---------------------------------------------------------------------------------------------
// Numbers written in words

const UNITS: Record<string, number> = {
  zero: 0, um: 1, uma: 1, dois: 2, duas: 2, tres: 3, quatro: 4, cinco: 5, seis: 6, sete: 7, oito: 8, nove: 9,
  dez: 10, onze: 11, doze: 12, treze: 13, quatorze: 14, catorze: 14, quinze: 15, dezesseis: 16, dezasseis: 16,
  dezessete: 17, dezoito: 18, dezenove: 19, vinte: 20, trinta: 30, quarenta: 40, cinquenta: 50, sessenta: 60,
  setenta: 70, oitenta: 80, noventa: 90, cem: 100, cento: 100, duzentos: 200, duzentas: 200, trezentos: 300,
  trezentas: 300, quatrocentos: 400, quatrocentas: 400, quinhentos: 500, quinhentas: 500, seiscentos: 600,
  seiscentas: 600, setecentos: 700, setecentas: 700, oitocentos: 800, oitocentas: 800, novecentos: 900, novecentas: 900,
};
const WORD_NUMBER = `(?:${[...Object.keys(UNITS), 'mil', 'milhao', 'milhoes', 'meio', 'meia'].sort((a, b) => b.length - a.length).join('|')})`;
/** A run of number words joined by "e": "dois mil e quinhentos", "um milhao e meio". */
const WORD_RUN = new RegExp(`\\b${WORD_NUMBER}(?:(?: e | )${WORD_NUMBER})*\\b`, 'g');

/** "dois mil e quinhentos" → 2500; "um milhao e meio" → 1500000; undefined if it is not a number. */
export function wordsToNumber(words: string): number | undefined {
  const tokens = fold(words).split(/ (?:e )?/).filter(Boolean);
  if (tokens.length === 0) return undefined;
  let total = 0;
  let group = 0;
  let lastScale = 1;
  let seen = false;
  for (const t of tokens) {
    if (t in UNITS) {
      group += UNITS[t]!;
      seen = true;
    } else if (t === 'mil') {
      total += (group || 1) * 1000;
      group = 0;
      lastScale = 1000;
      seen = true;
    } else if (t === 'milhao' || t === 'milhoes') {
      total += (group || 1) * 1_000_000;
      group = 0;
      lastScale = 1_000_000;
      seen = true;
    } else if (t === 'meio' || t === 'meia') {
      // "um milhao e meio", "dois mil e meio", "um ano e meio" (the caller scales years).
      group += lastScale > 1 ? lastScale / 2 : 0.5;
    } else {
      return undefined;
    }
  }
  return seen ? total + group : undefined;
}

// ---------------------------------------------------------------------------------------------
// Numbers in digits, with their scale

interface NumberSpan {
  value: number;
  start: number;
  end: number;
  /** Written as money: R$, reais, mil, k, milhão. */
  money: boolean;
}

const DIGITS = /(r\$\s*)?(\d{1,3}(?:\.\d{3})+|\d+)(?:([.,])(\d{1,2}))?(?!\d)(\s*(?:mil\b|k\b|milhao\b|milhoes\b|mi\b|reais\b|conto\b|contos\b))?/g;

function scaleOf(suffix: string | undefined): { factor: number; money: boolean } {
  const s = (suffix ?? '').trim();
  if (s === 'mil' || s === 'k') return { factor: 1000, money: true };
  if (s === 'milhao' || s === 'milhoes' || s === 'mi') return { factor: 1_000_000, money: true };
  if (s === 'reais' || s === 'conto' || s === 'contos') return { factor: 1, money: true };
  return { factor: 1, money: false };
}

/** Every number in the (folded) text, in order, with where it is and whether it reads as money. */
function numbersOf(t: string): NumberSpan[] {
  const spans: NumberSpan[] = [];
  for (const m of t.matchAll(DIGITS)) {
    const [whole, currency, intPart, sep, frac, suffix] = m;
    const start = m.index;
    // A CPF, a phone, a date, a time: not a value the customer is telling us.
    const before = t.slice(Math.max(0, start - 1), start);
    const after = t.slice(start + whole.length, start + whole.length + 1);
    if (/[\d/-]/.test(before) || /^[/\-:h]/.test(after) || /^\d{9,}$/.test(intPart!.replace(/\./g, ''))) continue;
    const { factor, money } = scaleOf(suffix);
    let value = Number(intPart!.replace(/\./g, ''));
    if (sep && frac) value += Number(frac) / 10 ** frac.length;
    // "1.5 mi" and "2,5 mil": a decimal only makes sense with a scale or as cents.
    spans.push({ value: Math.round(value * factor * 100) / 100, start, end: start + whole.length, money: money || !!currency });
  }
  for (const m of t.matchAll(WORD_RUN)) {
    const start = m.index;
    if (spans.some((s) => start < s.end && start + m[0].length > s.start)) continue;
    const value = wordsToNumber(m[0]);
    if (value === undefined) continue;
    // "um" alone is an article far more often than a number ("um carro"), unless a term follows.
    if (/^(um|uma)$/.test(m[0]) && !/^\s*(ano|mes)\b/.test(t.slice(start + m[0].length))) continue;
    let end = start + m[0].length;
    const tail = /^\s*(reais|conto|contos)\b/.exec(t.slice(end));
    if (tail) end += tail[0].length;
    spans.push({ value, start, end, money: /\bmil|milh/.test(m[0]) || !!tail });
  }
  return spans.sort((a, b) => a.start - b.start);
}

/** Every amount of money the text mentions, as numbers: what a model's figures are checked against. */
export function moneyIn(text: string): number[] {
  return numbersOf(fold(text)).map((s) => s.value);
}

// ---------------------------------------------------------------------------------------------
// Terms

const TERM_AFTER = /^\s*(x\b|vezes\b|parcelas?\b|prestac(?:ao|oes)\b|mes(?:es)?\b|anos?\b)(\s+e\s+meio\b)?/;
const AGE_BEFORE = /\b(tenho|idade|faco|fiz|completei|completo)\s*(?:de\s*)?$/;

function termOf(t: string, span: NumberSpan): number | undefined {
  const after = TERM_AFTER.exec(t.slice(span.end));
  if (!after) return undefined;
  if (span.money) return undefined;
  const before = t.slice(Math.max(0, span.start - 20), span.start);
  if (/anos?/.test(after[1]!) && (AGE_BEFORE.test(before) || /^\s*anos?\s+de\s+idade/.test(t.slice(span.end)))) return undefined;
  // "ha 3 anos", "faz 2 anos", "trabalho ha 5 anos": time past, not a term.
  if (/\b(ha|faz|desde)\s*$/.test(before)) return undefined;
  let months = /anos?/.test(after[1]!) ? span.value * 12 : span.value;
  if (after[2]) months += /anos?/.test(after[1]!) ? 6 : 0;
  return Number.isInteger(months) ? months : Math.round(months);
}

// ---------------------------------------------------------------------------------------------
// Which number is which

const INCOME_CUE = /\b(ganho|ganha|ganhamos|recebo|recebe|renda|salario|faturo|fatura|faturamento|tiro|ganhando|recebendo|aposentadoria|pensao)\b/;
const AMOUNT_CUE = /\b(preciso|precisando|quero|queria|gostaria|emprestimo|credito|valor|pegar|solicitar|financiar|simular|simulacao|pedir|de uns|de uns?)\b/;
const INSTALLMENT_CUE = /\b(pagar|parcela|parcelas de|prestacao|pago)\b/;
const PER_MONTH_AFTER = /^\s*(por mes|mensais|mensal|ao mes|\/mes|por mes liquido|liquidos?|brutos?)\b/;

/**
 * The values the text states.
 *
 * @example
 * extract('meu nome é João Pedro, ganho 4.500 e preciso de dois mil e quinhentos em 12 vezes')
 * // => { name: 'João Pedro', monthly_income: 4500, requested_amount: 2500, term_months: 12 }
 */
export function extract(text: string, opts: ExtractOptions = {}): Extracted {
  const out: Extracted = {};
  const t = fold(text);
  if (!t) return out;

  const name = nameIn(text, opts.expecting === 'name');
  if (name) out.name = name;

  const spans = numbersOf(t);
  let prevEnd = 0;
  for (const span of spans) {
    const before = t.slice(prevEnd, span.start);
    prevEnd = span.end;
    const term = termOf(t, span);
    if (term !== undefined) {
      out.term_months ??= term;
      continue;
    }
    if (/^\s*(anos?|filhos?|dias?|horas?|h\b|vezes|pessoas?|%)/.test(t.slice(span.end)) || /\b(dia|numero|no|apto|apartamento|cpf|cep|rua|idade)\s*$/.test(before)) continue;
    if (INSTALLMENT_CUE.test(before) && !AMOUNT_CUE.test(before.replace(INSTALLMENT_CUE, ''))) continue;
    if (INCOME_CUE.test(before) || (PER_MONTH_AFTER.test(t.slice(span.end)) && !INSTALLMENT_CUE.test(before))) {
      out.monthly_income ??= span.value;
      continue;
    }
    if (AMOUNT_CUE.test(before)) {
      out.requested_amount ??= span.value;
      continue;
    }
    // A bare number answers the question Lívia asked.
    if (opts.expecting === 'requested_amount' || opts.expecting === 'monthly_income') {
      out[opts.expecting] ??= span.value;
    } else if (opts.expecting === 'term_months' && !span.money && Number.isInteger(span.value)) {
      out.term_months ??= span.value;
    } else if (span.money) {
      out.requested_amount ??= span.value;
    }
  }

  const purpose = purposeIn(t, opts.expecting === 'purpose' ? text : undefined);
  if (purpose) out.purpose = purpose;

  const answer = answerIn(t);
  if (answer) out.answer = answer;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Names

const NAME_WORD = "[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’]*";
const NAME_PARTICLES = new Set(['da', 'de', 'do', 'das', 'dos']);
/** Words that follow "sou"/"é" and are not names. */
const NOT_NAMES = new Set(
  (
    'e eu o a um uma aqui cliente autonomo autonoma aposentado aposentada casado casada solteiro solteira ' +
    'servidor servidora funcionario funcionaria publico publica empresario empresaria mei clt pensionista ' +
    'motorista professor professora vendedor vendedora do da de nao sim ok oi ola bom boa tudo bem obrigado ' +
    'obrigada quero preciso gostaria queria tenho estou to ta dono dona assalariado assalariada desempregado ' +
    'desempregada novo nova interessado interessada eu mesmo mesma que isso ele ela voce sobre pra para por ' +
    'com sem mais menos muito pouco meu minha seu sua trabalho trabalhador trabalhadora estudante favor ' +
    'responsavel unica unico primeiro primeira titular filho filha esposa marido mae pai livia atendente pode aprovar aprova aprove manda vamos bora certo ' +
    'blz show legal entendi como qual quanto onde quando porque valeu'
  ).split(' '),
);

function titleCase(words: string[]): string {
  return words
    .map((w, i) => (i > 0 && NAME_PARTICLES.has(w.toLowerCase()) ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase()))
    .join(' ');
}

/** Up to four name words from `rest`, stopping at the first word that cannot be part of a name. */
function takeName(rest: string, requireCapital: boolean): string | undefined {
  const words = rest.split(/\s+/);
  const taken: string[] = [];
  for (const raw of words) {
    const w = raw.replace(/[.,;:!?)]+$/, '');
    if (!new RegExp(`^${NAME_WORD}$`).test(w)) break;
    const f = fold(w);
    if (NAME_PARTICLES.has(f) && taken.length > 0) {
      taken.push(w);
      continue;
    }
    if (NOT_NAMES.has(f) || f.length < 2) break;
    if (requireCapital && w.charAt(0) !== w.charAt(0).toUpperCase()) break;
    taken.push(w);
    if (taken.length === 4 || raw !== w) break;
  }
  while (taken.length > 0 && NAME_PARTICLES.has(fold(taken.at(-1)!))) taken.pop();
  return taken.length > 0 ? titleCase(taken) : undefined;
}

/** "aqui é a Carla", "meu nome é João Pedro", "me chamo ana", "sou o Marcos", or a bare name when asked. */
export function nameIn(text: string, expectingName = false): string | undefined {
  const patterns: [RegExp, boolean][] = [
    [/\bmeu nome (?:e|é|eh)\s+(?:o |a )?/i, false],
    [/\bme chamo\s+/i, false],
    [/\bpode me chamar de\s+/i, false],
    [/\bme chamam de\s+/i, false],
    [/\baqui (?:e|é|eh)\s+(?:o |a )?/i, true],
    [/\b(?:eu )?sou (?:o |a )/i, true],
    [/\b(?:[Ee]u )?[Ss]ou\s+(?=[A-ZÀ-Ö])/, true],
  ];
  for (const [re, requireCapital] of patterns) {
    const m = re.exec(text);
    if (!m) continue;
    const name = takeName(text.slice(m.index + m[0].length), requireCapital && !/\b(?:o|a) $/i.test(m[0]));
    if (name) return name;
  }
  // "Carla aqui", "Carla falando"
  const tail = new RegExp(`^(${NAME_WORD}(?:\\s+${NAME_WORD})?)\\s+(?:aqui|falando)\\b`).exec(text.trim());
  if (tail) {
    const name = takeName(tail[1]!, true);
    if (name) return name;
  }
  if (expectingName) {
    // A bare answer: "Carla", "carla souza", "É Carla." (one to four name-like words, nothing else).
    const bare = text.trim().replace(/^(?:(?:oi|olá|ola|opa|bom dia|boa tarde|boa noite)[,!.]?\s+)?(?:(?:e|é) )?(?:(?:o|a) )?/i, '').replace(/[.!]+$/, '');
    if (new RegExp(`^${NAME_WORD}(?:\\s+${NAME_WORD}){0,3}$`).test(bare)) {
      const name = takeName(bare, false);
      if (name && name.split(' ').length === bare.split(/\s+/).length) return name;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Purpose

const PURPOSES: [RegExp, string][] = [
  [/\b(divida|dividas|quitar|cartao de credito|cartao|cheque especial|negativad|limpar (?:o |meu )?nome|serasa|pagar contas|contas atrasadas)/, 'quitar dívidas'],
  [/\b(reforma|reformar|obra|construir|construcao|puxadinho|telhado)/, 'reforma ou construção'],
  [/\b(carro|moto|veiculo|automovel|caminhao)/, 'veículo'],
  [/\b(capital de giro|meu negocio|meu comercio|minha loja|minha empresa|pra empresa|estoque|mercadoria|maquinas?|equipamentos?|abrir (?:um|uma|o|a))/, 'negócio próprio'],
  [/\b(cirurgia|tratamento|saude|dentista|hospital|remedios?|medic)/, 'saúde'],
  [/\b(faculdade|curso|estudos?|mensalidade|escola|pos-graduacao|pos graduacao)/, 'educação'],
  [/\b(viagem|viajar|ferias)/, 'viagem'],
  [/\b(casamento|casar|festa)/, 'casamento ou festa'],
  [/\b(casa propria|comprar (?:uma |a )?casa|apartamento|imovel|terreno|entrada do|fazenda|sitio|chacara)/, 'imóvel'],
  [/\b(moveis|eletrodomesticos?|geladeira|fogao|computador|celular)/, 'compras para casa'],
];

/** The purpose named by keyword; when asked for it, the customer's own words (trimmed) otherwise. */
function purposeIn(t: string, freeText: string | undefined): string | undefined {
  for (const [re, purpose] of PURPOSES) if (re.test(t)) return purpose;
  if (freeText === undefined) return undefined;
  const words = freeText.trim().replace(/\s+/g, ' ');
  const f = fold(words);
  if (f.length < 3 || !/[a-z]{3}/.test(f) || answerIn(f) || /\d/.test(f)) return undefined;
  return words.slice(0, 120);
}

// ---------------------------------------------------------------------------------------------
// Yes and no

const YES = /^(sim|s|ss|siim+|claro|claro que sim|pode|pode sim|pode ser|ok|okay|okey|beleza|blz|com certeza|certeza|quero|quero sim|aceito|fechado|fechou|bora|vamos|isso|isso mesmo|perfeito|ta bom|ta otimo|otimo|topo|top|show|manda|positivo|yes|concordo|autorizo|de acordo|combinado|uhum|aham)\b/;
const NO = /^(nao|n|nn|nope|agora nao|nao quero|prefiro nao|melhor nao|nem|negativo|recuso|no|nao obrigad[oa]|de jeito nenhum|ainda nao)\b(?! sei| entendi| tenho certeza| sabia)/;

/** A yes or a no at the start of the message ("sim, pode ligar", "não, obrigado"). */
export function answerIn(t: string): Answer | undefined {
  const s = fold(t).replace(/^[^a-z0-9👍👎✅]+/u, '');
  if (/^👎/u.test(s)) return 'no';
  if (/^(👍|✅|👌)/u.test(s)) return 'yes';
  if (NO.test(s)) return 'no';
  if (YES.test(s)) return 'yes';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Opt-out

/** Whole-message commands: "PARAR", "sair.", "Stop" — not "quero sair das dívidas". */
const OPT_OUT_COMMANDS = /^(parar|pare|para|sair|stop|cancelar|cancela|chega|remover|descadastrar|desinscrever|bloquear|unsubscribe)( por favor| pfv| pf)?$/;
const OPT_OUT_PHRASES = [
  /\bnao quero mais(?=$| (nada|mensage(m|ns)|receber|contato|falar|conversar|isso|saber|obrigad))/,
  /\bnao (me )?(mande|manda|envie|envia|chame|chama|procure|procura|ligue|liga)( mais)? (mensage(m|ns)|mais)/,
  /\b(para|pare|parem|parar) de (me )?(mandar|enviar|mandando|enviando|chamar|ligar|encher)/,
  /\b(me )?(tira|tire|remova|remove|exclua|exclui|apaga|apague) (da|dessa|desta|meu|o meu) (lista|numero|contato|cadastro)/,
  /\bnao tenho (mais )?interesse\b/,
  /\bsem interesse\b/,
  /\bme (descadastr|desinscrev)/,
  /\bnao (quero|desejo) (mais )?receber/,
];

/** Whether the customer asks to stop receiving messages. */
export function isOptOut(text: string): boolean {
  const t = fold(text).replace(/[.!?,;]+/g, ' ').replace(/\s+/g, ' ').trim();
  if (!t) return false;
  if (OPT_OUT_COMMANDS.test(t)) return true;
  return OPT_OUT_PHRASES.some((re) => re.test(t));
}
