/**
 * Demo data for a fresh database (`npm run seed:demo`): a team of six (one manager) and a few
 * hundred Brazilian credit leads from the last 60 days, scored by the rule-based classifier,
 * assigned, and moved along the pipeline with the interactions that moved them, so the board,
 * the lead pages and the charts have something to show.
 *
 * The data comes from a seeded pseudo-random generator: the same seed gives the same leads
 * (relative to `now`), which keeps demos and tests repeatable.
 *
 * @example
 * const result = await seedDemo(sql, { passwordHash: await hashPassword(pw) });
 * // => { consultants: [{ name, email, role }...], leads: 300, interactions: 1400, byStatus: {...} }
 */
import { randomUUID } from 'node:crypto';
import { classifyByRules } from '../domain/classifier.ts';
import { LEAD_STATUSES, type LeadStatus } from '../domain/lead-status.ts';
import type { Role } from '../domain/roles.ts';
import type { Sql } from '../db/client.ts';
import { insertConsultant } from '../db/consultants.ts';
import {
  contentCounts,
  insertSeedInteractions,
  insertSeedLeads,
  insertSeedNotifications,
  lockSeed,
  recomputeWorkload,
  type SeedInteraction,
  type SeedLead,
  type SeedNotification,
} from '../db/seed.ts';

/** The database is not fresh: seed:demo adds to nothing. */
export class NotEmptyError extends Error {
  override name = 'NotEmptyError';
}

export const DEMO_TEAM: { name: string; email: string; role: Role }[] = [
  { name: 'Marta Ribeiro', email: 'marta.ribeiro@demo.example.com', role: 'MANAGER' },
  { name: 'Ana Paula Ferreira', email: 'ana.ferreira@demo.example.com', role: 'CONSULTANT' },
  { name: 'Bruno Almeida', email: 'bruno.almeida@demo.example.com', role: 'CONSULTANT' },
  { name: 'Camila Rocha', email: 'camila.rocha@demo.example.com', role: 'CONSULTANT' },
  { name: 'Diego Martins', email: 'diego.martins@demo.example.com', role: 'CONSULTANT' },
  { name: 'Eduarda Nunes', email: 'eduarda.nunes@demo.example.com', role: 'CONSULTANT' },
];

const FIRST = [
  'Maria', 'José', 'Ana', 'João', 'Antônio', 'Francisca', 'Carlos', 'Paulo', 'Adriana', 'Lucas', 'Juliana', 'Marcos',
  'Fernanda', 'Rafael', 'Patrícia', 'Gabriel', 'Aline', 'Rodrigo', 'Sandra', 'Luiz', 'Camila', 'Pedro', 'Letícia',
  'Thiago', 'Vanessa', 'Mateus', 'Beatriz', 'Felipe', 'Larissa', 'Gustavo', 'Raimunda', 'Sebastião', 'Cláudia', 'Márcio',
];
const LAST = [
  'Silva', 'Santos', 'Oliveira', 'Souza', 'Rodrigues', 'Ferreira', 'Alves', 'Pereira', 'Lima', 'Gomes', 'Costa',
  'Ribeiro', 'Martins', 'Carvalho', 'Almeida', 'Lopes', 'Soares', 'Fernandes', 'Vieira', 'Barbosa', 'Rocha', 'Dias',
  'Nascimento', 'Andrade', 'Moreira', 'Nunes', 'Marques', 'Machado', 'Mendes', 'Freitas', 'Cardoso', 'Araújo',
];
/** Area codes of the larger Brazilian cities. */
const DDD = [11, 11, 11, 21, 21, 31, 41, 51, 61, 71, 81, 85, 19, 27, 48, 62, 91, 92, 13, 16];
const SOURCES: [string, number][] = [
  ['site', 35],
  ['instagram', 20],
  ['google', 15],
  ['indicacao', 12],
  ['facebook', 10],
  ['whatsapp', 8],
];
const MESSAGES = [
  'Quero simular um empréstimo consignado',
  'Preciso de crédito para reformar a casa, é urgente',
  'Gostaria de saber as taxas para capital de giro',
  'Quero financiar um carro seminovo',
  'Só pesquisando por enquanto, talvez depois',
  'Tenho urgência, preciso fechar hoje',
  'Quero quitar dívidas do cartão com uma parcela menor',
  'Vi o anúncio no Instagram, quero saber mais',
  'Preciso de um empréstimo com garantia de imóvel',
  'Quero contratar o crédito que a minha irmã indicou',
  'Curiosidade sobre o consignado para aposentado',
  'Preciso de dinheiro para abrir meu negócio',
  null,
];
const NOTES = [
  'Liguei, não atendeu. Deixei recado no WhatsApp.',
  'Cliente pediu para retornar depois das 18h.',
  'Enviei a simulação por e-mail.',
  'Documentos recebidos: RG, comprovante de renda e de residência.',
  'Cliente comparando com a proposta do banco.',
  'Conversamos por WhatsApp, interesse confirmado.',
  'Pediu prazo maior, refiz a simulação em 48 meses.',
];
const LOST_REASONS = ['Sem retorno após 3 tentativas', 'Fechou com outro banco', 'Renda insuficiente', 'Desistiu do crédito', 'Taxa acima do esperado'];

/** mulberry32: a tiny seeded generator, plenty for demo data. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const weighted = <T>(xs: readonly [T, number][]): T => {
    let r = next() * xs.reduce((n, [, w]) => n + w, 0);
    for (const [x, w] of xs) if ((r -= w) < 0) return x;
    return xs[xs.length - 1]![0];
  };
  /** Log-uniform between min and max: small values common, large ones rare. */
  const logUniform = (min: number, max: number) => Math.exp(Math.log(min) + next() * (Math.log(max) - Math.log(min)));
  return { next, int, pick, weighted, logUniform, chance: (p: number) => next() < p };
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const ascii = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();

export interface DemoData {
  leads: SeedLead[];
  interactions: SeedInteraction[];
  notifications: SeedNotification[];
}

/**
 * The leads, their interactions and assignment notifications, for consultants `consultantIds`
 * (ids of role CONSULTANT), all timestamped in the 60 days before `now`.
 */
export function generateDemoData(opts: { consultantIds: string[]; count: number; now: Date; seed: number }): DemoData {
  const g = generator(opts.seed);
  const now = opts.now.getTime();
  const leads: SeedLead[] = [];
  const interactions: SeedInteraction[] = [];
  const notifications: SeedNotification[] = [];

  for (let n = 0; n < opts.count; n++) {
    const first = g.pick(FIRST);
    const last = `${g.pick(LAST)}${g.chance(0.35) ? ` ${g.pick(LAST)}` : ''}`;
    const name = `${first} ${last}`;
    const hasEmail = g.chance(0.7);
    const hasPhone = !hasEmail || g.chance(0.9);
    const phone = hasPhone ? `+55${g.pick(DDD)}9${g.int(6, 9)}${String(g.int(0, 9_999_999)).padStart(7, '0')}` : null;
    const email = hasEmail ? `${ascii(first)}.${ascii(last.split(' ')[0]!)}${g.int(1, 99)}@example.com` : null;
    const source = g.weighted(SOURCES);
    const message = g.pick(MESSAGES);
    const requestedAmount = g.chance(0.85) ? Math.round(g.logUniform(3_000, 250_000) / 500) * 500 : null;
    const monthlyIncome = g.chance(0.7) ? Math.round(g.logUniform(1_500, 30_000) / 100) * 100 : null;
    const c = classifyByRules({ requestedAmount, monthlyIncome, source, message, hasPhone, hasEmail });

    // Arrival: more leads lately, during Brazilian business hours (UTC-3), fewer on Sundays.
    let createdAt = now - Math.pow(g.next(), 1.4) * 60 * DAY;
    const local = new Date(createdAt - 3 * HOUR);
    local.setUTCHours(g.int(8, 21), g.int(0, 59), g.int(0, 59), g.int(0, 999));
    // A Sunday moves to Saturday, unless that leaves the 60 days (then to Monday).
    if (local.getUTCDay() === 0 && g.chance(0.6)) {
      local.setUTCDate(local.getUTCDate() - 1);
      if (local.getTime() + 3 * HOUR < now - 60 * DAY) local.setUTCDate(local.getUTCDate() + 2);
    }
    createdAt = Math.max(Math.min(local.getTime() + 3 * HOUR, now - g.int(5, 120) * MINUTE), now - 60 * DAY + HOUR);

    const id = randomUUID();
    const events: SeedInteraction[] = [];
    const at = (t: number) => new Date(Math.min(t, now));
    events.push({ leadId: id, type: 'created', actorType: 'system', actorId: null, data: { source }, at: at(createdAt) });
    const classifiedAt = createdAt + g.int(1, 20) * SECOND;
    events.push({
      leadId: id,
      type: 'classified',
      actorType: 'system',
      actorId: null,
      data: { score: c.score, temperature: c.temperature, classifier: 'rules', reasons: c.reasons, note: 'regras' },
      at: at(classifiedAt),
    });
    const consultantId = g.pick(opts.consultantIds);
    const assignedAt = classifiedAt + Math.round(g.logUniform(1, 900)) * SECOND;
    events.push({ leadId: id, type: 'assigned', actorType: 'system', actorId: null, data: { consultant_id: consultantId, by: 'round_robin' }, at: at(assignedAt) });
    notifications.push({
      recipientId: consultantId,
      leadId: id,
      title: 'Novo lead atribuído',
      body: name,
      at: at(assignedAt),
      read: now - assignedAt > 2 * DAY || g.chance(0.5),
    });

    // The pipeline: each step needs time to have passed, and HOT leads go further.
    const push = c.temperature === 'HOT' ? 0.8 : c.temperature === 'WARM' ? 0.65 : 0.45;
    let status: LeadStatus = 'NEW';
    let t = assignedAt + Math.round(g.logUniform(2 * MINUTE, 2 * DAY));
    let closedAt: number | null = null;
    const path: LeadStatus[] = ['CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON'];
    for (const next of path) {
      if (t >= now) break;
      const advance = next === 'CONTACTED' ? g.chance(0.85) : next === 'WON' ? g.chance(push * 0.75) : g.chance(push);
      if (!advance) {
        // Left where it is, or lost there (more likely for older, colder leads).
        if (now - t > 5 * DAY && g.chance(0.4)) {
          events.push({ leadId: id, type: 'status_changed', actorType: 'user', actorId: consultantId, data: { from: status, to: 'LOST' }, at: at(t) });
          events.push({ leadId: id, type: 'note', actorType: 'user', actorId: consultantId, data: { text: g.pick(LOST_REASONS) }, at: at(t + SECOND) });
          status = 'LOST';
          closedAt = t;
        }
        break;
      }
      if (g.chance(0.35)) {
        events.push({ leadId: id, type: 'note', actorType: 'user', actorId: consultantId, data: { text: g.pick(NOTES) }, at: at(t - g.int(1, 90) * SECOND) });
      }
      events.push({ leadId: id, type: 'status_changed', actorType: 'user', actorId: consultantId, data: { from: status, to: next }, at: at(t) });
      status = next;
      if (next === 'WON') closedAt = t;
      t += Math.round(g.logUniform(2 * HOUR, 6 * DAY));
    }
    // Keep each lead's events in time order (a note may have been dated before its status change).
    events.sort((a, b) => a.at.getTime() - b.at.getTime());
    interactions.push(...events);

    const last_ = events[events.length - 1]!.at;
    leads.push({
      id,
      name,
      phone,
      email,
      source,
      externalId: `demo-${opts.seed}-${n + 1}`,
      message,
      requestedAmount,
      monthlyIncome,
      status,
      aiScore: c.score,
      aiTemperature: c.temperature,
      aiReasons: { reasons: c.reasons, note: 'regras' },
      aiClassifiedAt: at(classifiedAt),
      consultantId,
      assignedAt: at(assignedAt),
      // One for the insert, one per change the application would have counted.
      version: 1 + events.filter((e) => e.type !== 'created' && e.type !== 'note').length,
      createdAt: new Date(createdAt),
      updatedAt: last_,
      closedAt: closedAt === null ? null : at(closedAt),
    });
  }
  // The audit trail reads in time order across leads, as if it had been written live.
  interactions.sort((a, b) => a.at.getTime() - b.at.getTime());
  notifications.sort((a, b) => a.at.getTime() - b.at.getTime());
  return { leads, interactions, notifications };
}

export interface SeedResult {
  consultants: { name: string; email: string; role: Role }[];
  leads: number;
  interactions: number;
  byStatus: Record<LeadStatus, number>;
}

/**
 * Fills a fresh database (nothing but administrators) with the demo team and leads, in one
 * transaction; refuses, changing nothing, when it holds leads or other users already.
 */
export async function seedDemo(
  sql: Sql,
  opts: { passwordHash: string; count?: number; now?: Date; seed?: number },
): Promise<SeedResult> {
  return sql.begin(async (tx) => {
    await lockSeed(tx);
    const held = await contentCounts(tx);
    if (held.leads > 0 || held.non_admins > 0) {
      throw new NotEmptyError(
        `seed:demo fills a fresh database only, and this one already has ${held.leads} lead(s) and ${held.users} user(s); ` +
          'nothing was changed. Point DATABASE_URL (or DATA_DIR) at an empty database, or delete DATA_DIR to start over.',
      );
    }
    const team = [];
    for (const member of DEMO_TEAM) {
      const created = await insertConsultant(tx, { ...member, passwordHash: opts.passwordHash, maxOpenLeads: member.role === 'CONSULTANT' ? 60 : 0 });
      if (!created) throw new NotEmptyError(`seed:demo: ${member.email} exists already; nothing was changed`);
      team.push(created);
    }
    const data = generateDemoData({
      consultantIds: team.filter((c) => c.role === 'CONSULTANT').map((c) => c.id),
      count: opts.count ?? 300,
      now: opts.now ?? new Date(),
      seed: opts.seed ?? 20261201,
    });
    await insertSeedLeads(tx, data.leads);
    await insertSeedInteractions(tx, data.interactions);
    await insertSeedNotifications(tx, data.notifications);
    await recomputeWorkload(tx);
    const byStatus = Object.fromEntries(LEAD_STATUSES.map((s) => [s, 0])) as Record<LeadStatus, number>;
    for (const l of data.leads) byStatus[l.status] += 1;
    return {
      consultants: team.map((c) => ({ name: c.name, email: c.email, role: c.role })),
      leads: data.leads.length,
      interactions: data.interactions.length,
      byStatus,
    };
  });
}
