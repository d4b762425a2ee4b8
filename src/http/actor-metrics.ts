/**
 * Prometheus metrics of the actor runtime: dead-lettered effects (by actor type, read from the
 * outbox so they survive restarts, cleared by an admin retry), and counters of this process.
 *
 * @example
 * registerActorMetrics(metrics.registry, { sql, system });
 */
import { Gauge, type Registry } from 'prom-client';
import type { ActorSystem } from '../actors/runtime.ts';
import { countDeadEffects } from '../db/actor-effects.ts';
import type { Sql } from '../db/client.ts';

export function registerActorMetrics(registry: Registry, deps: { sql: Sql; system: ActorSystem }): void {
  new Gauge({
    name: 'actor_effects_dead_letters',
    help: 'Effects whose retry budget is spent, waiting for an admin retry, by actor type',
    labelNames: ['actor_type'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      try {
        for (const r of await countDeadEffects(deps.sql)) this.set({ actor_type: r.actor_type }, r.n);
      } catch {
        // The database being down is what /ready reports; metrics still render.
      }
    },
  });
  new Gauge({
    name: 'actor_runtime_events',
    help: 'Actor runtime counters since this process started (events, batches, rehydrations, passivations, loadErrors, rejected)',
    labelNames: ['counter'] as const,
    registers: [registry],
    collect() {
      for (const [k, v] of Object.entries(deps.system.stats)) this.set({ counter: k }, v);
    },
  });
}
