/**
 * Who may call each route: one line per route, `METHOD /path` as Hono registers it. createApp
 * refuses to build with a registered route missing here, and test/route-policy.test.ts checks
 * every line against every role. Socket.io events have theirs in SOCKET_POLICIES.
 *
 * @example
 * 'POST /api/actors/:type/:id/reset': roles('ADMIN'),
 */
import { anyone, metricsToken, roles, signedIn, signedWebhook, type PolicyTable } from './policy.ts';

export const ROUTE_POLICIES: PolicyTable = {
  // Operations and the API's own description.
  'GET /health': anyone,
  'GET /ready': anyone,
  'GET /metrics': metricsToken,
  'GET /api/openapi.json': anyone,
  'GET /api/docs': anyone,
  'GET /api/docs.js': anyone,

  'POST /api/auth/login': anyone,
  'POST /api/auth/logout': signedIn,
  'GET /api/auth/me': signedIn,

  'GET /api/consultants': roles('ADMIN', 'MANAGER'),
  'POST /api/consultants': roles('ADMIN', 'MANAGER'),
  'PATCH /api/consultants/:id': roles('ADMIN', 'MANAGER'),

  'POST /api/webhooks/leads': signedWebhook,

  // A consultant sees only their own leads: the lead service narrows what signed-in users see.
  'GET /api/leads': signedIn,
  'GET /api/leads/counts': signedIn,
  'GET /api/leads/:id': signedIn,
  'PATCH /api/leads/:id': signedIn,

  'GET /api/notifications': signedIn,
  'PATCH /api/notifications/:id': signedIn,
  // EventSource sends the web app's session cookie; API clients send their bearer token.
  'GET /api/notifications/stream': signedIn,
  'POST /api/notifications/read-all': signedIn,

  'GET /api/analytics/summary': roles('ADMIN', 'MANAGER'),
  'GET /api/analytics/leads.csv': roles('ADMIN', 'MANAGER'),

  'GET /api/machines': signedIn,
  'GET /api/actors': roles('ADMIN', 'MANAGER'),
  'GET /api/actors/:type/:id': roles('ADMIN', 'MANAGER'),
  'POST /api/actors/:type/:id/reset': roles('ADMIN'),
  'POST /api/actors/:type/:id/effects/:effectId/retry': roles('ADMIN'),
  'POST /api/actors/:type/:id/effects/:effectId/discard': roles('ADMIN'),

  // WhatsApp: the inbox narrows chats, messages and media to a consultant's own leads.
  'GET /api/whatsapp/sessions': signedIn,
  'POST /api/whatsapp/sessions/:name/logout': roles('ADMIN'),
  'POST /api/whatsapp/sessions/:name/reconnect': roles('ADMIN'),
  'POST /api/whatsapp/sessions/:name/pairing-code': roles('ADMIN'),
  'GET /api/whatsapp/chats': signedIn,
  'GET /api/whatsapp/chats/:id/messages': signedIn,
  'POST /api/whatsapp/chats/:id/messages': signedIn,
  'POST /api/whatsapp/chats/:id/read': signedIn,
  'GET /api/whatsapp/media/:id': signedIn,
  // Lívia's conversations: a consultant sees and acts on those of their own leads (the service narrows).
  'GET /api/conversations': signedIn,
  'GET /api/conversations/:id': signedIn,
  'POST /api/conversations/:id/takeover': signedIn,
  'POST /api/conversations/:id/release': signedIn,
  'POST /api/conversations/:id/messages': signedIn,
  // LGPD: a customer's data, exported or erased.
  'GET /api/customers/:phone/export': roles('ADMIN'),
  'DELETE /api/customers/:phone': roles('ADMIN'),
  // The simulator (404 unless WHATSAPP_DRIVER=simulator).
  'POST /api/simulator/messages': roles('ADMIN'),
  'GET /api/simulator/messages': roles('ADMIN'),
  'POST /api/simulator/read': roles('ADMIN'),
  'POST /api/simulator/pairing': roles('ADMIN'),
  'GET /api/simulator/socket': roles('ADMIN'),

  // The web app's files and pages; the pages call the API, which holds the data.
  'GET /*': anyone,
  'POST /*': anyone,
};

/**
 * Socket.io: connecting needs a session (any role); each event a client may send is listed here,
 * and handlers are only attached through `onEvent` (src/http/socket.ts), which checks it.
 */
export const SOCKET_POLICIES: PolicyTable = {
  'actor:subscribe': roles('ADMIN', 'MANAGER'),
  'actor:unsubscribe': signedIn,
};
