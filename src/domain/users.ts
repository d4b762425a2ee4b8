/**
 * Who is acting: the signed-in user as every layer sees it (routes, services, sockets).
 */
import type { Role } from './roles.ts';

export interface AuthUser {
  id: string;
  name: string;
  email: string;
  role: Role;
}
