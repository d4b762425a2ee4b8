import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('createLogger', () => {
  it('writes JSON lines, secrets redacted', () => {
    const out = sink();
    createLogger('info', { pretty: false, destination: out.stream }).info({ password: 'hunter22' }, 'hello');
    const line = JSON.parse(out.text()) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'hello', password: '[redacted]', service: 'livia', level: 30 });
  });

  it('writes readable lines when pretty', () => {
    const out = sink();
    createLogger('info', { pretty: true, destination: out.stream }).info({ port: 3000, password: 'hunter22' }, 'listening');
    const text = out.text();
    expect(text).toMatch(/INFO.*listening/);
    expect(text).toContain('port: 3000');
    expect(text).not.toContain('hunter22');
    expect(() => JSON.parse(text)).toThrow();
  });
});
