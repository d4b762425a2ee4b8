/**
 * WhatsApp at the composition root: the driver `WHATSAPP_DRIVER` names (the simulator is built in;
 * the Baileys driver is loaded from src/actors/whatsapp/baileys-driver.ts when present), the service
 * whose session actors own the sockets, and its pushes to Socket.io rooms.
 *
 * A driver that cannot be loaded does not stop the server: every session goes `failed` with the
 * reason ("driver not available: …"), visible in /ready and GET /api/whatsapp/sessions.
 */
import type { Config } from '../config.ts';
import type { Sql } from '../db/client.ts';
import type { ActorSystem } from '../actors/runtime.ts';
import { createDriver as createSimulatorDriver } from '../actors/whatsapp/simulator-driver.ts';
import type { WhatsAppDriver, WhatsAppDriverFactory } from '../actors/whatsapp/transport.ts';
import { roleRoom, userRoom } from '../http/socket.ts';
import type { Logger } from '../log.ts';
import { UnhandledConversationInbox, type ConversationInbox } from '../services/whatsapp/conversation-inbox.ts';
import { WhatsAppService, type WhatsAppServiceDeps } from '../services/whatsapp/service.ts';
import type { Hub } from './hub.ts';
import type { Teardown } from './teardown.ts';

export interface LoadedDriver {
  driver: WhatsAppDriver | undefined;
  error?: string | undefined;
}

export async function loadWhatsAppDriver(d: { config: Config; sql: Sql; log: Logger }): Promise<LoadedDriver> {
  if (d.config.whatsappDriver === 'simulator') return { driver: createSimulatorDriver(d) };
  // A variable specifier: this branch compiles whether or not the Baileys driver module exists yet.
  const specifier = new URL('../actors/whatsapp/baileys-driver.ts', import.meta.url).href;
  try {
    const mod = (await import(specifier)) as { createDriver?: WhatsAppDriverFactory };
    if (typeof mod.createDriver !== 'function') throw new Error('baileys-driver.ts exports no createDriver');
    return { driver: mod.createDriver(d) };
  } catch (err) {
    const error = `driver not available: ${(err as Error).message.split('\n')[0]}`;
    d.log.error({ err, driver: d.config.whatsappDriver }, 'WhatsApp driver not available; every session is marked failed');
    return { driver: undefined, error };
  }
}

export function createWhatsApp(d: {
  sql: Sql;
  system: ActorSystem;
  log: Logger;
  config: Config;
  hub: Hub;
  loaded: LoadedDriver;
  teardown: Teardown;
  conversations?: ConversationInbox;
  /** Several instances: whether this one owns the session (its lease), and who owns each. */
  owns?: (session: string) => boolean;
  owners?: () => Promise<Record<string, { instance: string | null; epoch: number | null; here: boolean }>>;
  remote?: WhatsAppServiceDeps['remote'];
}): WhatsAppService {
  const wa = new WhatsAppService({
    sql: d.sql,
    system: d.system,
    log: d.log.child({ module: 'whatsapp' }),
    driver: d.loaded.driver,
    driverError: d.loaded.error,
    sessions: d.config.whatsapp.sessions,
    mediaMaxBytes: d.config.whatsapp.mediaMaxBytes,
    sendPerMinute: d.config.whatsapp.sendPerMinute,
    ...(d.owns ? { owns: d.owns } : {}),
    ...(d.owners ? { owners: d.owners } : {}),
    ...(d.remote ? { remote: d.remote } : {}),
    intake: async (lead) => {
      if (!d.hub.pipeline) throw new Error('lead pipeline not started');
      return d.hub.pipeline.intake(lead);
    },
    conversations: d.conversations ?? new UnhandledConversationInbox(d.log.child({ module: 'conversations' })),
    push: {
      all: (event, payload) => d.hub.io?.emit(event, payload),
      chat: (chat, event, payload) =>
        d.hub.io?.to([roleRoom('ADMIN'), roleRoom('MANAGER'), ...(chat.consultant_id ? [userRoom(chat.consultant_id)] : [])]).emit(event, payload),
    },
  });
  wa.register();
  d.hub.whatsapp = wa;
  // Sockets end before the actor system stops (teardown runs in reverse order of pushes).
  d.teardown.push(() => wa.stop(), 'WhatsApp sessions');
  return wa;
}
