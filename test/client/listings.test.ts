import { describe, expect, it } from 'vitest';
import { modelsTable } from '../../src/client/listings.js';
import type { ModelWire } from '../../src/client/wire.js';

function model(overrides: Partial<ModelWire>): ModelWire {
  return {
    id: '7f3e2a10-0000-4000-8000-000000000001',
    vendor: 'org',
    name: 'x',
    repo_id: 'org/x',
    revision: 'main',
    commit_sha: null,
    status: 'registered',
    error: null,
    last_synced_at: null,
    created_at: '2026-12-01T10:00:00.000Z',
    updated_at: '2026-12-01T10:00:00.000Z',
    ...overrides,
  } as ModelWire;
}

describe('modelsTable', () => {
  it('says under the table why each model in error failed, and nothing when none did', () => {
    const fine = model({ repo_id: 'org/fine', status: 'synced', commit_sha: 'a'.repeat(40) });
    expect(modelsTable([fine])).not.toContain('Errors:');
    const broken = model({
      repo_id: 'org/nope',
      status: 'error',
      error: 'Upstream has no repository org/nope\u001b[31m',
    });
    const lines = modelsTable([fine, broken]).split('\n');
    expect(lines.slice(-2)).toEqual(['Errors:', '  org/nope: Upstream has no repository org/nope\\x1b[31m']);
  });
});
