/**
 * Prometheus metrics of what crosses instances, counted since this process started: NOTIFY is at
 * most once, so what was lost shows here (and in the logs) rather than nowhere.
 *
 * - `socketio_publish_failed`: Socket.io events this instance could not send to the others;
 * - `socketio_listen_gaps`: times its adapter's listening connection was lost (the others' events
 *   until it was back, ~2 s, never reached this instance's sockets);
 * - `broadcast_notify_failed` / `broadcast_listen_gaps`: the same for `livia_broadcast` (caches and
 *   SSE resync after a gap, so nothing stays stale);
 * - `forwarded` / `delivered` / `late`: actor events and calls sent to another instance's actors,
 *   run here for others, and refused here because their sender had stopped waiting.
 *
 * @example
 * registerCrossInstanceMetrics(metrics.registry, { adapter, broadcast, forwarding });
 */
import { Gauge, type Registry } from 'prom-client';
import type { ActorForwarding } from '../actors/forwarding.ts';
import type { Broadcast } from '../db/broadcast.ts';
import type { SocketAdapter } from '../db/socket-adapter.ts';

export function registerCrossInstanceMetrics(registry: Registry, d: { adapter: SocketAdapter; broadcast: Broadcast; forwarding: ActorForwarding }): void {
  new Gauge({
    name: 'cross_instance_events',
    help: 'Cross-instance counters since this process started (socketio_publish_failed, socketio_listen_gaps, broadcast_notify_failed, broadcast_listen_gaps, forwarded, delivered, late)',
    labelNames: ['counter'] as const,
    registers: [registry],
    collect() {
      const values: Record<string, number> = {
        socketio_publish_failed: d.adapter.stats.publishFailed,
        socketio_listen_gaps: d.adapter.stats.listenGaps,
        broadcast_notify_failed: d.broadcast.notifyFailed,
        broadcast_listen_gaps: d.broadcast.resumed,
        forwarded: d.forwarding.stats.forwarded,
        delivered: d.forwarding.stats.delivered,
        late: d.forwarding.stats.late,
      };
      for (const [k, v] of Object.entries(values)) this.set({ counter: k }, v);
    },
  });
}
