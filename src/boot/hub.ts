/**
 * Parts the composition root binds late: the actors' effects need the pipeline and Socket.io, which
 * are built after the actors. Effects run after their commit, by when these are set.
 */
import type { Server as SocketServer } from 'socket.io';
import type { LeadPipeline } from '../services/lead-pipeline.ts';

export interface Hub {
  io?: SocketServer | undefined;
  pipeline?: LeadPipeline | undefined;
  /** WhatsApp's chat index follows lead assignments (who may see a chat). */
  whatsapp?: { leadChanged(lead: { id: string; consultant_id: string | null }): void } | undefined;
  shuttingDown: boolean;
}
