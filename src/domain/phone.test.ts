import { describe, expect, it } from 'vitest';
import { normalizePhone } from './phone.ts';

describe('normalizePhone', () => {
  it.each([
    // Brazilian mobiles, no country code: read as +55
    ['(11) 98765-4321', '+5511987654321'],
    ['11987654321', '+5511987654321'],
    ['11 9 8765 4321', '+5511987654321'],
    ['  (21) 99876-5432  ', '+5521998765432'],
    // Brazilian mobiles with +55
    ['+55 11 98765-4321', '+5511987654321'],
    ['+5511987654321', '+5511987654321'],
    ['+55 (11) 9.8765-4321', '+5511987654321'],
    // 55-prefixed without the plus, and the 00 international prefix
    ['5511987654321', '+5511987654321'],
    ['55 11 98765-4321', '+5511987654321'],
    ['0055 11 98765-4321', '+5511987654321'],
    // trunk prefix 0 before the area code
    ['(011) 98765-4321', '+5511987654321'],
    // landlines
    ['(11) 3456-7890', '+551134567890'],
    ['1134567890', '+551134567890'],
    ['+55 (21) 2345-6789', '+552123456789'],
    ['552123456789', '+552123456789'],
    ['55 11 3456-7890', '+551134567890'],
    // area code 55 (Rio Grande do Sul) without a country code is still a BR number, not a prefix
    ['(55) 99123-4567', '+5555991234567'],
    ['(55) 3222-1234', '+555532221234'],
    // foreign numbers with +
    ['+1 212 555 0100', '+12125550100'],
    ['+44 20 7946 0958', '+442079460958'],
    ['+351 912 345 678', '+351912345678'],
  ])('%j → %s', (input, expected) => {
    expect(normalizePhone(input)).toBe(expected);
  });

  it.each([
    ['123'],
    ['abc'],
    [''],
    ['   '],
    ['(11) 1234-567'], // too short
    ['98765-4321'], // no area code
    ['+55 11 00000-0000'],
    ['+999 123'],
    ['5511987654321000'], // too long
    ['+1 000 000 0000'],
    ['1'.repeat(41)], // over the length cap
  ])('%j → undefined', (input) => {
    expect(normalizePhone(input)).toBeUndefined();
  });

  it('is lenient about text around a number (libphonenumber extracts it), but keeps only the number', () => {
    expect(normalizePhone("(11) 98765-4321; drop table leads")).toBe('+5511987654321');
  });

  it('always answers E.164 when it answers', () => {
    for (const input of ['(11) 98765-4321', '+44 20 7946 0958', '552123456789']) {
      expect(normalizePhone(input)).toMatch(/^\+[1-9]\d{7,14}$/);
    }
  });
});
