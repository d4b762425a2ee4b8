/**
 * What one instance keeps in memory and another changes, over LISTEN/NOTIFY (src/db/broadcast.ts),
 * plus the Socket.io Postgres adapter (src/db/socket-adapter.ts):
 *
 * - `session`: a user changed (role, deactivation, password) or logged out here; the others drop
 *   their cached check and close that user's (or that token's) sockets and SSE streams;
 * - `notification`: a notification committed here; an instance with an SSE stream of its
 *   recipient reads the recipient's newest one, and the stream catches up from its `seq`;
 * - `chat` / `lead`: the WhatsApp chat index changed here (a message, a receipt, a read, a lead
 *   assigned); the others re-read that chat, or move its lead, in theirs.
 *
 * When listening resumes after a gap (a database cut), messages may have been lost: every cached
 * session check is dropped and each open connection rechecked, every SSE stream catches up from
 * the database, and the chat index is rebuilt.
 */
import type { Config } from '../config.ts';
import { Broadcast } from '../db/broadcast.ts';
import type { Sql } from '../db/client.ts';
import { livenessName } from '../db/leases.ts';
import { latestNotification } from '../db/notifications.ts';
import type { SocketAdapter } from '../db/socket-adapter.ts';
import { chatById } from '../db/whatsapp.ts';
import type { NotificationBus } from '../http/notification-bus.ts';
import type { Logger } from '../log.ts';
import type { SessionChange, Sessions } from '../services/sessions.ts';
import type { WhatsAppService } from '../services/whatsapp/service.ts';
import type { Teardown } from './teardown.ts';

export interface CrossInstance {
  broadcast: Broadcast;
  adapter: SocketAdapter;
}

export async function startCrossInstance(d: {
  config: Config;
  sql: Sql;
  databaseUrl: string;
  log: Logger;
  teardown: Teardown;
  sessions: Sessions;
  bus: NotificationBus;
  whatsapp: WhatsAppService;
  adapter: SocketAdapter;
  /** This process's boot (src/boot/ownership.ts): its listening connection is named after it. */
  boot?: string;
}): Promise<CrossInstance> {
  const { sql, log, sessions, bus, whatsapp, adapter } = d;

  const resync = async () => {
    const closed = await sessions.resync();
    if (closed > 0) log.info({ closed }, 'closed connections whose session ended while other instances were not heard');
    await Promise.all(bus.recipients().map(pokeRecipient));
    await whatsapp.reloadIndex();
  };
  const broadcast = new Broadcast({
    url: d.databaseUrl,
    sql,
    instanceId: d.config.instanceId,
    // The liveness mark a lone instance's start checks before taking a lease (src/db/leases.ts).
    ...(d.boot ? { applicationName: livenessName(d.boot) } : {}),
    log,
    // On the adapter's pool: no WAL flush wait for a notification (see src/db/socket-adapter.ts).
    // Not at all while the adapter knows no other instance (a new one reads everything from the
    // database when it starts, and announces itself before it serves).
    notify: (channel, payload) => (adapter.alone() ? Promise.resolve() : adapter.pool.query('select pg_notify($1, $2)', [channel, payload])),
    onResumed: () => void resync().catch((err) => log.warn({ err }, 'resync after a database cut failed; retried at the next one')),
  });

  // Sessions.
  sessions.announce = (change) => broadcast.publish('session', change);
  broadcast.on<SessionChange>('session', (change) => sessions.applyRemote(change));

  // SSE notifications: a stream behind the newest notification catches up by `seq`.
  async function pokeRecipient(recipientId: string): Promise<void> {
    const n = await latestNotification(sql, recipientId);
    if (n) bus.deliver(n);
  }
  bus.announce = (n) => broadcast.publish('notification', { r: n.recipient_id });
  broadcast.on<{ r: string }>('notification', ({ r }) => {
    if (bus.has(r)) pokeRecipient(r).catch((err) => log.warn({ err }, 'reading a notification from another instance failed; the next one or a resync catches up'));
  });

  // The WhatsApp chat index.
  let applyingRemote = false;
  const remote = (f: () => void) => {
    applyingRemote = true;
    try {
      f();
    } finally {
      applyingRemote = false;
    }
  };
  whatsapp.index.inspect((ev) => {
    if (applyingRemote || ev.type !== '@xstate.transition') return;
    const e = ev.event as { type: string; chatId?: string; chat?: { id: string }; leadId?: string; consultantId?: string | null };
    if (e.type === 'lead' && e.leadId) broadcast.publish('lead', { id: e.leadId, consultant_id: e.consultantId ?? null });
    else if (e.chatId) broadcast.publish('chat', { id: e.chatId });
    else if (e.type === 'chat' && e.chat) broadcast.publish('chat', { id: e.chat.id });
  });
  const staleChats = new Set<string>();
  let rereading: ReturnType<typeof setTimeout> | undefined;
  const rereadChats = async () => {
    rereading = undefined;
    const ids = [...staleChats];
    staleChats.clear();
    for (const id of ids) {
      const chat = await chatById(sql, id);
      if (chat) remote(() => whatsapp.index.trigger.chat({ chat }));
    }
  };
  broadcast.on<{ id: string }>('chat', ({ id }) => {
    staleChats.add(id);
    rereading ??= setTimeout(() => void rereadChats().catch((err) => log.warn({ err }, 're-reading chats changed on another instance failed')), 20);
  });
  broadcast.on<{ id: string; consultant_id: string | null }>('lead', (lead) => remote(() => whatsapp.leadChanged(lead)));

  await broadcast.start();
  d.teardown.push(() => broadcast.stop(), 'cross-instance broadcast');
  return { broadcast, adapter };
}
