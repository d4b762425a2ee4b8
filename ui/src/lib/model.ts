/**
 * The API's shapes as the web app uses them, and their pt-BR labels. The closed unions mirror
 * `src/domain/` (imported as types only, so zod stays out of the browser).
 */
import type { LeadStatus, Temperature } from '../../../src/domain/lead-status.ts';
import type { Role } from './session';

export type { LeadStatus, Temperature };

export const STATUSES: readonly LeadStatus[] = ['NEW', 'CONTACTED', 'QUALIFIED', 'PROPOSAL', 'WON', 'LOST'];
export const TEMPERATURES: readonly Temperature[] = ['HOT', 'WARM', 'COLD'];

export const STATUS_LABELS: Record<LeadStatus, string> = {
  NEW: 'Novo',
  CONTACTED: 'Contatado',
  QUALIFIED: 'Qualificado',
  PROPOSAL: 'Proposta',
  WON: 'Ganho',
  LOST: 'Perdido',
};

export const TEMPERATURE_LABELS: Record<Temperature, string> = { HOT: 'Quente', WARM: 'Morno', COLD: 'Frio' };

export interface Lead {
  id: string;
  name: string;
  phone: string | null;
  email: string | null;
  source: string;
  status: LeadStatus;
  message?: string | null;
  requested_amount?: number | null;
  monthly_income?: number | null;
  ai_score: number | null;
  ai_temperature: Temperature | null;
  ai_classifier: 'groq' | 'rules' | null;
  ai_reasons?: unknown;
  consultant_id: string | null;
  consultant: { id: string; name: string } | null;
  version: number;
  created_at: string;
  updated_at: string;
  assigned_at: string | null;
}

export interface Interaction {
  id: number;
  type: string;
  actor: { type: 'user' | 'system' | 'livia'; id: string | null; name: string | null };
  data: Record<string, unknown>;
  created_at: string;
}

export interface Notification {
  id: number;
  type: string;
  title: string;
  body: string;
  lead_id: string | null;
  read: boolean;
  created_at: string;
}

export interface Consultant {
  id: string;
  name: string;
  email: string;
  role: Role;
  active: boolean;
  max_open_leads: number;
  open_leads: number;
  online: boolean;
}

/** "há 5 min", "há 3 h", "há 2 d": how long ago, coarse enough to stay true for a while. */
export function age(iso: string, now = Date.now()): string {
  const minutes = Math.max(0, Math.floor((now - Date.parse(iso)) / 60_000));
  if (minutes < 1) return 'agora';
  if (minutes < 60) return `há ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `há ${hours} h`;
  return `há ${Math.floor(hours / 24)} d`;
}

export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString('pt-BR', { dateStyle: 'short', timeStyle: 'short', timeZone: 'America/Sao_Paulo' });
}

/** +5511987654321 → (11) 98765-4321 for Brazilian numbers; anything else as it is. */
export function formatPhone(phone: string | null): string {
  if (!phone) return '—';
  const m = /^\+55(\d{2})(\d{4,5})(\d{4})$/.exec(phone);
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : phone;
}
