import { describe, expect, it } from 'vitest';
import { ReadinessService } from '../../src/services/readiness.service.js';

describe('ReadinessService', () => {
  it('is ready when every check passes', async () => {
    const readiness = new ReadinessService({ database: async () => {}, queue: async () => {} });
    await expect(readiness.check()).resolves.toEqual({
      ready: true,
      checks: { database: 'ok', queue: 'ok' },
    });
  });

  it('names the failing check and why, and still reports the others', async () => {
    const readiness = new ReadinessService({
      database: async () => {},
      store: async () => {
        throw new Error("EACCES: permission denied, open '/store/temp/.probe-1'");
      },
    });
    await expect(readiness.check()).resolves.toEqual({
      ready: false,
      checks: { database: 'ok', store: "EACCES: permission denied, open '/store/temp/.probe-1'" },
    });
  });

  it('answers within its deadline when a check hangs', async () => {
    const readiness = new ReadinessService(
      { database: async () => {}, queue: () => new Promise<void>(() => {}) },
      100,
    );
    const started = Date.now();
    const report = await readiness.check();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(report).toEqual({ ready: false, checks: { database: 'ok', queue: 'no answer within 100 ms' } });
  });

  it('never shows credentials a driver put into its message', async () => {
    const readiness = new ReadinessService({
      database: async () => {
        throw new Error('connect failed for postgres://hub:s3cret-pw@db.internal:5432/hub\n  at socket');
      },
    });
    const { checks } = await readiness.check();
    expect(checks.database).toBe('connect failed for postgres://db.internal:5432/hub at socket');
  });
});
