import { describe, expect, it } from 'vitest';
import type { ModelRepoRow } from '../../src/db/schema.js';
import { type FreshnessDeps, RevisionFreshness } from '../../src/services/mirror-freshness.js';

const C1 = 'a'.repeat(40);
const C2 = 'b'.repeat(40);
const TTL = 300_000;
const SYNCED_AT = Date.parse('2026-12-01T10:00:00Z');

function row(overrides: Partial<ModelRepoRow> = {}): ModelRepoRow {
  return {
    id: 'm1',
    vendor: 'org',
    name: 'x',
    repoId: 'org/x',
    revision: 'main',
    commitSha: C1,
    status: 'synced',
    error: null,
    lastSyncedAt: new Date(SYNCED_AT).toISOString(),
    pinnedAt: null,
    createdAt: new Date(SYNCED_AT).toISOString(),
    updatedAt: new Date(SYNCED_AT).toISOString(),
    ...overrides,
  };
}

/** A freshness check with a settable clock and an upstream the test answers by hand. */
function setup(
  head: () => Promise<string>,
  checkTimeoutMs = 1_000,
  sync: (model: ModelRepoRow, now: number) => Promise<ModelRepoRow> = async (model, now) => ({
    ...model,
    commitSha: C2,
    lastSyncedAt: new Date(now).toISOString(),
  }),
) {
  const clock = { now: SYNCED_AT };
  const calls = { resolve: 0, sync: 0 };
  const warnings: string[] = [];
  const deps: FreshnessDeps = {
    ttlMs: TTL,
    checkTimeoutMs,
    now: () => clock.now,
    resolveHead: () => {
      calls.resolve++;
      return head();
    },
    syncToHead: (model) => {
      calls.sync++;
      return sync(model, clock.now);
    },
    warn: (message) => warnings.push(message),
  };
  return { freshness: new RevisionFreshness(deps), clock, calls, warnings };
}

describe('RevisionFreshness', () => {
  it('asks upstream nothing within the TTL of the last sync', async () => {
    const { freshness, clock, calls } = setup(async () => C2);
    clock.now = SYNCED_AT + TTL - 1;
    expect(await freshness.current(row())).toMatchObject({ commitSha: C1 });
    expect(calls).toEqual({ resolve: 0, sync: 0 });
  });

  it('after the TTL: an unmoved head is served as is and not asked again for another TTL', async () => {
    const { freshness, clock, calls } = setup(async () => C1);
    clock.now = SYNCED_AT + TTL;
    expect(await freshness.current(row())).toMatchObject({ commitSha: C1 });
    clock.now += TTL - 1;
    await freshness.current(row());
    expect(calls).toEqual({ resolve: 1, sync: 0 });
    clock.now += 1;
    await freshness.current(row());
    expect(calls).toEqual({ resolve: 2, sync: 0 });
  });

  it('after the TTL: a moved head is synced and the synced row served; concurrent requests share one check', async () => {
    const { freshness, clock, calls } = setup(async () => C2);
    clock.now = SYNCED_AT + TTL + 5;
    const served = await Promise.all([1, 2, 3].map(() => freshness.current(row())));
    expect(served.map((m) => m.commitSha)).toEqual([C2, C2, C2]);
    expect(calls).toEqual({ resolve: 1, sync: 1 });
  });

  it('upstream failing: serves the last commit with a warning, and asks again after 30 s, not a whole TTL', async () => {
    const { freshness, clock, calls, warnings } = setup(async () => {
      throw new Error('connect ECONNREFUSED');
    });
    clock.now = SYNCED_AT + TTL;
    expect(await freshness.current(row())).toMatchObject({ commitSha: C1 });
    expect(warnings).toEqual([
      `Could not check the head of org/x@main upstream (connect ECONNREFUSED): serving the last synced commit ${C1.slice(0, 12)}`,
    ]);
    clock.now += 29_999;
    await freshness.current(row());
    expect(calls.resolve).toBe(1);
    clock.now += 1;
    await freshness.current(row());
    expect(calls.resolve).toBe(2);
  });

  it('upstream slow: serves the last commit after the check timeout; a moved head named late is synced for later requests', async () => {
    let answer: (head: string) => void = () => {};
    const { freshness, clock, calls, warnings } = setup(
      () =>
        new Promise<string>((resolve) => {
          answer = resolve;
        }),
      20,
    );
    clock.now = SYNCED_AT + TTL;
    expect(await freshness.current(row())).toMatchObject({ commitSha: C1 });
    expect(warnings[0]).toMatch(/did not name the head of org\/x@main within 20 ms/);
    expect(calls.sync).toBe(0);
    answer(C2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.sync).toBe(1);
  });

  it('a sync to the moved head that fails: the last commit is served, with the reason', async () => {
    const { freshness, clock, warnings } = setup(
      async () => C2,
      1_000,
      async () => {
        throw new Error('disk full');
      },
    );
    clock.now = SYNCED_AT + TTL;
    expect(await freshness.current(row())).toMatchObject({ commitSha: C1 });
    expect(warnings).toEqual([
      `org/x@main moved upstream, but syncing it to the new head failed (disk full): serving the last synced commit ${C1.slice(0, 12)}`,
    ]);
  });

  it('never checks a repo pinned to a commit, or one never synced', async () => {
    const { freshness, clock, calls } = setup(async () => C2);
    clock.now = SYNCED_AT + 10 * TTL;
    expect(await freshness.current(row({ revision: C1 }))).toMatchObject({ commitSha: C1 });
    expect(await freshness.current(row({ commitSha: null, lastSyncedAt: null }))).toMatchObject({
      commitSha: null,
    });
    expect(calls).toEqual({ resolve: 0, sync: 0 });
  });
});
