/**
 * Lívia's own words (pt-BR) for the moments the machine decides alone: greeting, the question for
 * what is missing, consent, hand-off, opt-out, follow-ups, voice notes and media. Pure.
 *
 * @example
 * askFor(['purpose'], { name: 'Carla' }) // => 'Me conta: para que você precisa do crédito? ...'
 */
import { callWindow, type BusinessHours } from '../../domain/business-hours.ts';
import type { Field } from '../../domain/extraction.ts';
import { QUESTIONS, type ConversationData } from '../../domain/qualification.ts';

export const GREETING = 'Oi! Eu sou a Lívia, assistente virtual de crédito. 😊';

export const CONSENT_QUESTION =
  'Ótimo! Para seguir, um dos nossos consultores precisa falar com você. ' +
  'Você autoriza que um consultor entre em contato com você por este número? Responda "sim" ou "não".';

export const OFFER_DECLINED = 'Sem problemas! Quer simular outro valor ou outro prazo? Por exemplo: "20 mil em 36 meses".';
export const NO_OFFER =
  'Com a sua renda, não consigo uma proposta nesse valor. Quer simular um valor menor ou um prazo maior? Por exemplo: "10 mil em 48 meses".';
export const CONSENT_DECLINED = 'Tudo bem, respeito a sua decisão. Se mudar de ideia, é só responder "sim" por aqui.';
export const ASK_OFFER = 'Quer seguir com essa proposta? Responda "sim" ou, se preferir, me diga outro valor ou prazo.';

export const OPT_OUT_CONFIRMATION =
  'Pronto, não vou mais te enviar mensagens. Seus dados de contato não serão usados para novas ofertas. Obrigada e até mais!';

export const VOICE_FALLBACK = 'Desculpe, não consegui ouvir o seu áudio agora. Pode me responder por escrito?';
export const MEDIA_ACK = 'Recebi o seu arquivo, obrigada! Por aqui eu só consigo ler mensagens de texto: pode me responder escrevendo?';

export function handoffText(name: string | undefined): string {
  return (
    `Perfeito${name ? `, ${name}` : ''}! Passei os seus dados para um dos nossos consultores, ` +
    'que vai te chamar por este número no horário comercial. Obrigada pela conversa!'
  );
}

const clock = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}h${minute % 60 ? String(minute % 60).padStart(2, '0') : ''}`;

/** Who will call, and when: within today's business hours, or from the next opening. */
export function consultantText(consultant: string, at: number, hours: BusinessHours): string {
  const when = {
    now: `ainda hoje, até as ${clock(hours.endMinute)}`,
    today: `hoje, a partir das ${clock(hours.startMinute)}`,
    tomorrow: `amanhã, a partir das ${clock(hours.startMinute)}`,
  }[callWindow(at, hours)];
  return `O consultor ${consultant} vai te chamar por aqui ${when}.`;
}

export function firstName(data: ConversationData): string | undefined {
  return data.name?.split(' ')[0];
}

/** The question for the first missing field (or a nudge to go on when nothing is missing). */
export function askFor(missing: readonly Field[], data: ConversationData): string {
  const next = missing[0];
  if (!next) return 'Posso te ajudar com mais alguma coisa?';
  if (next === 'name') return `${QUESTIONS.name} Pode me dizer o seu nome?`;
  const who = firstName(data);
  return who && next === 'purpose' ? `Prazer, ${who}! ${QUESTIONS.purpose}` : QUESTIONS[next];
}

export function followUpText(nudge: 1 | 2, data: ConversationData, pending: string): string {
  const who = firstName(data);
  if (nudge === 1) return `Oi${who ? `, ${who}` : ''}! Ainda está por aí? ${pending}`.trim();
  return (
    `Oi${who ? `, ${who}` : ''}! Como não tivemos resposta, vou encerrar a nossa conversa por enquanto. ` +
    'Se quiser retomar, é só me mandar uma mensagem.'
  );
}
