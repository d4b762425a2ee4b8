/**
 * Round-robin assignment with workload balancing, as a pure function.
 *
 * Eligible: active, under capacity (open leads < max), and online when the team works in shifts
 * (`requiresPresence`). Among the eligible, the next in rotation is the one assigned least
 * recently (never assigned first); ties go to the lighter workload, then to rotation order.
 * Assigning a batch in arrival order updates the workloads as it goes, so a burst spreads evenly.
 *
 * @example
 * assignInOrder(['l1', 'l2'], [a, b], { requiresPresence: false, now: new Date() })
 * // => [{ leadId: 'l1', consultantId: a.id }, { leadId: 'l2', consultantId: b.id }]
 */
export interface Candidate {
  id: string;
  active: boolean;
  openLeads: number;
  maxOpenLeads: number;
  lastAssignedAt: Date | null;
  /** Stable rotation order, e.g. when the consultant joined. */
  rotation: number;
  online: boolean;
}

export interface AssignmentOptions {
  requiresPresence: boolean;
  now: Date;
}

export function isEligible(c: Candidate, opts: Pick<AssignmentOptions, 'requiresPresence'>): boolean {
  return c.active && c.openLeads < c.maxOpenLeads && (!opts.requiresPresence || c.online);
}

function before(a: Candidate, b: Candidate): boolean {
  const ta = a.lastAssignedAt?.getTime() ?? -Infinity;
  const tb = b.lastAssignedAt?.getTime() ?? -Infinity;
  if (ta !== tb) return ta < tb;
  if (a.openLeads !== b.openLeads) return a.openLeads < b.openLeads;
  return a.rotation < b.rotation;
}

export function selectConsultant(candidates: readonly Candidate[], opts: Pick<AssignmentOptions, 'requiresPresence'>): Candidate | undefined {
  let best: Candidate | undefined;
  for (const c of candidates) if (isEligible(c, opts) && (!best || before(c, best))) best = c;
  return best;
}

/**
 * Assigns leads (already in arrival order) one by one; leads nobody can take stay unassigned.
 * Each assignment gets a distinct, increasing timestamp so the rotation stays strict in a burst.
 */
export function assignInOrder(
  leadIds: readonly string[],
  candidates: readonly Candidate[],
  opts: AssignmentOptions,
): { leadId: string; consultantId: string; at: Date }[] {
  const pool = candidates.map((c) => ({ ...c }));
  const out: { leadId: string; consultantId: string; at: Date }[] = [];
  let clock = opts.now.getTime();
  for (const c of pool) if (c.lastAssignedAt && c.lastAssignedAt.getTime() >= clock) clock = c.lastAssignedAt.getTime() + 1;
  for (const leadId of leadIds) {
    const chosen = selectConsultant(pool, opts);
    if (!chosen) break;
    const at = new Date(clock++);
    chosen.openLeads += 1;
    chosen.lastAssignedAt = at;
    out.push({ leadId, consultantId: chosen.id, at });
  }
  return out;
}
