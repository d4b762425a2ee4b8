/**
 * An ActorSystem running Lívia's conversation actor on a test database, with the tests' quick
 * outbox sweep and effect retries; the actor's `send` is bound to the system itself.
 *
 * @example
 * const system = conversationSystem(sql, boss, { settings, brain: scriptedBrain, transport });
 * await system.start();
 */
import { CONVERSATION, conversationActor, type ConversationDeps } from '../../src/actors/conversation.ts';
import type { ConversationEvent } from '../../src/actors/conversation.machine.ts';
import { ActorSystem } from '../../src/actors/runtime.ts';
import type { Sql } from '../../src/db/client.ts';
import type { PgBoss } from '../../src/db/jobs.ts';
import { createLogger } from '../../src/log.ts';

export function conversationSystem(sql: Sql, boss: PgBoss, deps: Omit<ConversationDeps, 'send'>): ActorSystem {
  const system = new ActorSystem({ sql, boss, log: createLogger('silent'), outboxSweepMs: 100, effectRetryBaseMs: 20 });
  system.register(conversationActor({ ...deps, send: (phone, e: ConversationEvent) => system.send(CONVERSATION, phone, e) }));
  return system;
}
