import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid } from '../../src/errors.js';
import { assertRepoId, repoIdProblem } from '../../src/services/repo-id.js';

/** The repo-id validator against generated input: valid names pass, hostile ones never do. */
const part = fc
  .stringMatching(/^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/)
  .filter((p) => !p.includes('..') && !p.includes('--'));
const validId = fc.tuple(part, part).map(([owner, name]) => `${owner}/${name}`);

describe('repoIdProblem (properties)', () => {
  it('accepts every owner/name built by the naming rules', () => {
    fc.assert(
      fc.property(validId, (id) => {
        expect(repoIdProblem(id)).toBeUndefined();
      }),
    );
  });

  it('accepts only plain ASCII owner/name shapes, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          validId.map((id) => `${id}x/`),
        ),
        (id) => {
          if (repoIdProblem(id) !== undefined) return;
          expect(id).toMatch(/^[A-Za-z0-9._-]{1,96}\/[A-Za-z0-9._-]{1,96}$/);
          expect(id).not.toContain('..');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses any id holding a control character, "..", a backslash or a third part', () => {
    const control = fc.integer({ min: 0, max: 0x20 }).map((c) => String.fromCharCode(c === 0x20 ? 0x7f : c));
    const poisoned = fc.oneof(
      fc
        .tuple(validId, control, fc.nat({ max: 10 }))
        .map(([id, c, at]) => id.slice(0, at) + c + id.slice(at)),
      fc.tuple(part, part).map(([a, b]) => `${a}/..${b}`),
      fc.tuple(part, part).map(([a, b]) => `${a}/${b}/..`),
      fc.tuple(part, part).map(([a, b]) => `${a}\\${b}`),
      validId.map((id) => `../${id}`),
      validId.map((id) => `/${id}`),
    );
    fc.assert(
      fc.property(poisoned, (id) => {
        expect(repoIdProblem(id)).toBeDefined();
        expect(() => assertRepoId('repo_id', id)).toThrow(Invalid);
      }),
    );
  });

  it('never quotes more than 100 characters of a refused id', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 101, maxLength: 5000 }), (id) => {
        try {
          assertRepoId('repo_id', id);
        } catch (error) {
          const message = (error as Error).message;
          // 101 characters of input may line up with the excerpt plus its closing quote; 102 cannot.
          expect(message).not.toContain(id.slice(0, 102));
          // Each quoted character is at most 6 characters (\uXXXX) however long the id is.
          expect(message.length).toBeLessThan(100 * 6 + 200);
        }
      }),
    );
  });
});
