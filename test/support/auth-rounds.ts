/** What test/fixtures/auth-writer.ts writes each round, shared with the test that checks it. */
import { createHash } from 'node:crypto';

/** Session keys written by each round's one key set. */
export const KEYS = 40;

export function digestOf(n: number, pad: string): string {
  return createHash('sha256').update(`${n}:${pad}`).digest('hex');
}
