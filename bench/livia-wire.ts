/**
 * Lívia's turn through the whole WhatsApp path (part of BENCH_ONLY=livia): the simulator driver
 * delivers a customer's message (`messages.upsert`), the inbound handler stores it and hands it to
 * Lívia, she answers, and the reply goes out through the `livia` session actor's exactly-once send
 * until the simulator's SERVER_ACK is stored ("sent"). One conversation at a time, so the figure
 * is a turn's own latency; scripted brain, no burst window, no typing delay.
 */
import type { ConversationTransport } from '../src/actors/conversation.ts';
import { ActorSystem } from '../src/actors/runtime.ts';
import { createDriver } from '../src/actors/whatsapp/simulator-driver.ts';
import { registerLivia } from '../src/boot/livia.ts';
import type { Config } from '../src/config.ts';
import { createSql } from '../src/db/client.ts';
import { startJobs, stopJobs } from '../src/db/jobs.ts';
import { parseHours } from '../src/domain/business-hours.ts';
import { createLogger } from '../src/log.ts';
import { LiviaConversationInbox, LiviaWhatsAppTransport, outboundIds } from '../src/services/livia-whatsapp.ts';
import { WhatsAppService } from '../src/services/whatsapp/service.ts';
import { sleep } from './lib/common.ts';

/** Turn latencies (ms): the simulator's delivery → Lívia's reply stored as sent. */
export async function simulatorTurnLatencies(db: { url: string }, dialogue: readonly string[], conversations: number): Promise<number[]> {
  const log = createLogger('silent');
  const sql = createSql(db.url, { max: 20, applicationName: 'livia-bench-wire' });
  const boss = await startJobs({ url: db.url, log, queues: [] });
  const system = new ActorSystem({ sql, boss, log, idleMs: 3_600_000 });
  const driver = createDriver({ config: {} as Config, sql, log });
  const sentAt = new Map<string, number>();
  const replyId = new Map<string, string>();
  let wa!: WhatsAppService;
  const inner = new LiviaWhatsAppTransport({ sql, whatsapp: () => wa });
  const transport: ConversationTransport = {
    send: async (m) => {
      await inner.send(m);
      replyId.set(`${m.phone}#${m.n}`, outboundIds(m.key).messageId);
    },
  };
  const config = {
    groq: { apiKey: undefined, baseUrl: undefined, model: 'none' },
    livia: {
      monthlyRate: 0.0199,
      maxIncomeShare: 0.3,
      hours: parseHours('00:00-24:00', 'America/Sao_Paulo'),
      followUpMs: [3_600_000, 86_400_000] as [number, number],
      burstMs: 0,
      typing: { msPerChar: 0, maxMs: 0 },
      brainTimeoutMs: 8000,
      transcriptionModel: 'none',
    },
  } as unknown as Pick<Config, 'livia' | 'groq'>;
  const { inbox } = registerLivia({ config, system, transport, log });
  wa = new WhatsAppService({
    sql,
    system,
    log,
    driver,
    sessions: ['livia'],
    mediaMaxBytes: 16 * 1024 * 1024,
    sendPerMinute: 1_000_000,
    intake: () => Promise.reject(new Error('no consultant session in this bench')),
    conversations: new LiviaConversationInbox({ sql, inbox, log }),
    push: {
      all: () => {},
      chat: (_chat, event, payload) => {
        const p = payload as { id: string; status?: string };
        if (event === 'whatsapp:message:status' && p.status === 'sent') sentAt.set(p.id, performance.now());
      },
    },
  });
  wa.register();
  await system.start();
  await wa.start();
  for (let i = 0; i < 200 && (await wa.sessionViews()).some((v) => v.status !== 'open'); i++) await sleep(20);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < conversations; i++) {
      const phone = `+55119${String(70_000_000 + i).padStart(8, '0')}`;
      for (const [turn, text] of dialogue.entries()) {
        const start = performance.now();
        await driver.inject('livia', { from: phone, text });
        const key = `${phone}#${turn + 1}`;
        const deadline = Date.now() + 10_000;
        for (;;) {
          const id = replyId.get(key);
          const at = id ? sentAt.get(id) : undefined;
          if (at !== undefined) {
            latencies.push(at - start);
            break;
          }
          if (Date.now() > deadline) throw new Error(`no reply ${key} within 10 s`);
          await sleep(0.2);
        }
      }
    }
    return latencies;
  } finally {
    await wa.stop();
    await system.stop();
    await stopJobs(boss).catch(() => {});
    await sql.end({ timeout: 5 });
  }
}
