import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `X-ModelHub-Signature: sha256=<hex>`: the HMAC-SHA256 of the exact request body, keyed with the
 * webhook's secret. A receiver recomputes it over the raw bytes it read (before any JSON parsing)
 * and compares in constant time.
 */
export const SIGNATURE_HEADER = 'X-ModelHub-Signature';

const PREFIX = 'sha256=';

export function signBody(body: string | Uint8Array, secret: string): string {
  return `${PREFIX}${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** True only when `signature` is exactly what `signBody(body, secret)` gives; constant-time. */
export function verifySignature(
  body: string | Uint8Array,
  secret: string,
  signature: string | undefined,
): boolean {
  if (signature === undefined) return false;
  const expected = Buffer.from(signBody(body, secret));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
