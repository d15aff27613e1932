import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Partial downloads that survive a crash: `temp/<key>.part` holds the bytes, `temp/<key>.part.json`
 * what is needed to continue them. `committedBytes` only ever covers bytes already fsynced, so a
 * resume never trusts a byte the disk may not have.
 */
export interface PartialState {
  version: 1;
  size: number;
  /** The hash the finished file must have (LFS sha256, or git blob sha1). */
  expected: string;
  /** Upstream's ETag for the bytes, sent back as `If-Range` when resuming. */
  validator: string | null;
  /** Length of the durable, contiguous prefix. */
  committedBytes: number;
}

const KEY = /^[A-Za-z0-9_-]{1,128}$/;

export class PartialDownloads {
  constructor(private readonly tempDir: string) {}

  dataPath(key: string): string {
    if (!KEY.test(key)) throw new Error(`Invalid partial download key: ${key}`);
    return path.join(this.tempDir, `${key}.part`);
  }

  private statePath(key: string): string {
    return `${this.dataPath(key)}.json`;
  }

  async load(key: string): Promise<PartialState | undefined> {
    try {
      const state = JSON.parse(await fs.readFile(this.statePath(key), 'utf8')) as PartialState;
      return state.version === 1 && Number.isInteger(state.committedBytes) ? state : undefined;
    } catch {
      return undefined;
    }
  }

  async save(key: string, state: PartialState): Promise<void> {
    const target = this.statePath(key);
    const staging = `${target}.${randomUUID()}.tmp`;
    await fs.writeFile(staging, JSON.stringify(state));
    await fs.rename(staging, target);
  }

  /** Forgets the resume state (after the data file was committed or is being discarded). */
  async forget(key: string): Promise<void> {
    await fs.rm(this.statePath(key), { force: true });
  }

  async discard(key: string): Promise<void> {
    await Promise.all([fs.rm(this.dataPath(key), { force: true }), this.forget(key)]);
  }
}
