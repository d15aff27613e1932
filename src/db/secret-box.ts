import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (webhook signing secrets): AES-256-GCM with the key from SECRETS_KEY, a random
 * 96-bit IV per value, stored in the secret's own text column as
 *
 *   enc:v1:<iv>:<tag>:<ciphertext>     each part base64url
 *
 * so no schema change is needed and a value written before the key was set (plain text) is still
 * read as it is. Without a key, values are stored and read plain. Error messages never hold a value.
 */
const MARKER = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A stored secret that cannot be turned back into the secret with this process's key. */
export class SecretUnreadable extends Error {}

export class SecretBox {
  private readonly key: Buffer | undefined;

  /** `key`: 32 bytes, or undefined to store secrets plain. */
  constructor(key?: Buffer) {
    if (key !== undefined && key.length !== KEY_BYTES) {
      throw new Error(`a secrets key must be ${KEY_BYTES} bytes, got ${key.length}`);
    }
    this.key = key;
  }

  /** Whether `seal` encrypts (a key is set). */
  get encrypts(): boolean {
    return this.key !== undefined;
  }

  /** What to store for `secret`: the encrypted marker string, or `secret` itself without a key. */
  seal(secret: string): string {
    if (!this.key) return secret;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
    return `${MARKER}${parts.join(':')}`;
  }

  /** The secret a stored value holds; throws `SecretUnreadable` when this key cannot open it. */
  open(stored: string): string {
    if (!isSealed(stored)) return stored;
    if (!this.key) {
      throw new SecretUnreadable('the secret is encrypted but SECRETS_KEY is not set');
    }
    const [iv, tag, ciphertext, ...rest] = stored
      .slice(MARKER.length)
      .split(':')
      .map((part) => Buffer.from(part, 'base64url'));
    if (!iv || !tag || !ciphertext || rest.length > 0 || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretUnreadable('the stored secret is malformed (not an enc:v1 value)');
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadable(
        'the secret cannot be decrypted with this SECRETS_KEY (it was encrypted with another key)',
      );
    }
  }
}

/** Whether a stored value is an encrypted one (else it is a plain secret from before the key). */
export function isSealed(stored: string): boolean {
  return stored.startsWith(MARKER);
}
