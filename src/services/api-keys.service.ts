import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { newId, nowIso } from '../clock.js';
import type { ApiKeysRepository } from '../db/api-keys.repo.js';
import type { ApiKeyRow } from '../db/schema.js';
import { Conflict, Invalid, NotFound } from '../errors.js';

/** Scopes nest: `admin` may do what `write` may, and `write` what `read` may. */
export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export function scopeAllows(held: Scope, needed: Scope): boolean {
  return SCOPES.indexOf(held) >= SCOPES.indexOf(needed);
}

export const KEY_PREFIX = 'mh_';
/** `mh_` and the first 8 characters of the random part: enough to tell keys apart, useless to guess. */
const PREFIX_LENGTH = KEY_PREFIX.length + 8;
/** 32 random bytes → 43 base64url characters. */
const KEY_PATTERN = /^mh_[A-Za-z0-9_-]{43}$/;
/** A key's "does it exist / what scope" answer is reused this long; revoking in this process clears it. */
const CACHE_MS = 2_000;
/**
 * While the database cannot answer, a key checked less than this long ago keeps its last answer, so
 * an outage does not also lock every client (and the metrics scraper) out of the endpoints that
 * still work.
 */
const STALE_MS = 10 * 60_000;
const CACHE_MAX_ENTRIES = 10_000;
/** `last_used_at` is written at most this often per key, never on every request. */
const TOUCH_INTERVAL_MS = 60_000;

export interface ApiKey {
  id: string;
  prefix: string;
  scope: Scope;
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

export interface CreatedApiKey extends ApiKey {
  /** The whole key; shown once and never stored. */
  key: string;
}

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    prefix: row.prefix,
    scope: row.scope,
    name: row.name,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
  };
}

/**
 * API keys: created random (`mh_` + 32 bytes), stored only as a SHA-256, checked in constant time.
 * Used by the HTTP access hook and by the CLI's offline `keys` commands alike.
 */
export class ApiKeysService {
  private readonly verified = new Map<string, { key: ApiKey | null; at: number }>();
  private anyKeysCache: { value: boolean; at: number } | undefined;
  private readonly touchedAt = new Map<string, number>();

  constructor(
    private readonly keys: ApiKeysRepository,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: { scope: Scope; name?: string | null }): Promise<CreatedApiKey> {
    const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row = await this.keys.insert({
      id: newId(),
      prefix: key.slice(0, PREFIX_LENGTH),
      keyHash: hashKey(key).toString('hex'),
      scope: input.scope,
      name: input.name ?? null,
      createdAt: nowIso(),
    });
    this.forget();
    return { ...toApiKey(row), key };
  }

  async list(): Promise<ApiKey[]> {
    return (await this.keys.list()).map(toApiKey);
  }

  /** Revokes by id, or by a prefix as `keys list` shows it (at least `mh_` and 4 characters). */
  async revoke(idOrPrefix: string): Promise<ApiKey> {
    const key = await this.find(idOrPrefix);
    await this.keys.delete(key.id);
    this.forget();
    return key;
  }

  /** Whether any key exists: from then on every API request needs one. */
  async anyKeys(): Promise<boolean> {
    const now = this.now();
    const cached = this.anyKeysCache;
    if (cached && now - cached.at < CACHE_MS) return cached.value;
    try {
      const value = await this.keys.any();
      this.anyKeysCache = { value, at: now };
      return value;
    } catch (error) {
      if (cached && now - cached.at < STALE_MS) return cached.value;
      throw error;
    }
  }

  /** The key a request presented, or null when it matches none. */
  async authenticate(presented: string): Promise<ApiKey | null> {
    if (!KEY_PATTERN.test(presented)) return null;
    const digest = hashKey(presented);
    const cacheKey = digest.toString('hex');
    const now = this.now();
    const cached = this.verified.get(cacheKey);
    if (cached && now - cached.at < CACHE_MS) return cached.key;

    let candidates: ApiKeyRow[];
    try {
      candidates = await this.keys.findByPrefix(presented.slice(0, PREFIX_LENGTH));
    } catch (error) {
      if (cached && now - cached.at < STALE_MS) return cached.key;
      throw error;
    }
    const match = candidates.find((row) => {
      const stored = Buffer.from(row.keyHash, 'hex');
      return stored.length === digest.length && timingSafeEqual(stored, digest);
    });
    const key = match ? toApiKey(match) : null;
    if (this.verified.size >= CACHE_MAX_ENTRIES) this.verified.clear();
    this.verified.set(cacheKey, { key, at: now });
    if (key) await this.touch(key.id, now);
    return key;
  }

  private async touch(id: string, now: number): Promise<void> {
    const last = this.touchedAt.get(id);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    this.touchedAt.set(id, now);
    // Bookkeeping only: a failed write must not fail the request it rides on.
    await this.keys.touch(id, new Date(now).toISOString()).catch(() => undefined);
  }

  private async find(idOrPrefix: string): Promise<ApiKey> {
    if (/^[0-9a-f-]{36}$/.test(idOrPrefix)) {
      const row = await this.keys.findById(idOrPrefix);
      if (row) return toApiKey(row);
    } else if (idOrPrefix.startsWith(KEY_PREFIX) && idOrPrefix.length >= KEY_PREFIX.length + 4) {
      // A whole key pasted by mistake still finds its row, by its prefix only.
      const rows = await this.keys.findByPrefixStart(idOrPrefix.slice(0, PREFIX_LENGTH));
      if (rows.length > 1)
        throw new Conflict(
          'VALIDATION_FAILED',
          'That prefix matches several keys; give more of it, or the id',
        );
      const [row] = rows;
      if (row) return toApiKey(row);
    } else {
      throw new Invalid(
        'VALIDATION_FAILED',
        'A key is named by its id, or by its prefix as `keys list` shows it (mh_ and at least 4 more characters)',
      );
    }
    throw new NotFound('KEY_NOT_FOUND', 'No API key with that id or prefix');
  }

  private forget(): void {
    this.verified.clear();
    this.anyKeysCache = undefined;
  }
}
