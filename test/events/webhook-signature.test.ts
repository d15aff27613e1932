import { describe, expect, it } from 'vitest';
import { signBody, verifySignature } from '../../src/events/webhook-signature.js';

const SECRET = 'It is a secret key!';
const BODY = '{"id":1}';
// HMAC-SHA256(SECRET, BODY), computed independently (openssl dgst -sha256 -hmac).
const EXPECTED = 'sha256=6f817888e4aeb13c41823c9e66c453b16bfd84830e98faf7cea8c764daf78212';

describe('webhook signature', () => {
  it('is sha256=<hex HMAC-SHA256> of the exact body', () => {
    expect(signBody(BODY, SECRET)).toBe(EXPECTED);
    expect(signBody(Buffer.from(BODY), SECRET)).toBe(EXPECTED);
  });

  it('verifies the right signature only', () => {
    expect(verifySignature(BODY, SECRET, EXPECTED)).toBe(true);
    expect(verifySignature(BODY, 'another secret!!', EXPECTED)).toBe(false);
    expect(verifySignature('{"id":2}', SECRET, EXPECTED)).toBe(false);
    expect(verifySignature(`${BODY} `, SECRET, EXPECTED)).toBe(false);
    expect(verifySignature(BODY, SECRET, undefined)).toBe(false);
    expect(verifySignature(BODY, SECRET, '')).toBe(false);
    expect(verifySignature(BODY, SECRET, EXPECTED.slice('sha256='.length))).toBe(false);
    expect(verifySignature(BODY, SECRET, EXPECTED.toUpperCase())).toBe(false);
    expect(verifySignature(BODY, SECRET, `${EXPECTED}00`)).toBe(false);
  });
});
