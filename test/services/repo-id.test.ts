import { describe, expect, it } from 'vitest';
import { repoIdProblem } from '../../src/services/repo-id.js';

describe('repoIdProblem', () => {
  it.each(['Wan-AI/Wan2.1-T2V-1.3B', 'google-bert/bert-base-uncased', 'a/b', 'Org_1/model.v2_final'])(
    'accepts %s',
    (id) => {
      expect(repoIdProblem(id)).toBeUndefined();
    },
  );
  it.each([
    ['gpt2', 'exactly'],
    ['a/b/c', 'exactly'],
    ['/name', 'empty part'],
    ['owner/', 'empty part'],
    ['owner/../x', 'exactly'],
    ['../x', '".." or "--"'],
    ['owner/a..b', '".." or "--"'],
    ['owner/a--b', '".." or "--"'],
    ['owner/-lead', 'must not start or end'],
    ['owner/trail.', 'must not start or end'],
    ['owner/sp ace', 'letters, digits'],
    ['owner/na%2Fme', 'letters, digits'],
    [`owner/${'x'.repeat(97)}`, 'longer than 96'],
  ])('refuses %j', (id, reason) => {
    expect(repoIdProblem(id)).toContain(reason);
  });
});
