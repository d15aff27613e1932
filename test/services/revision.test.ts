import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid } from '../../src/errors.js';
import { assertRevision, revisionProblem } from '../../src/services/revision.js';
import { safeJoin } from '../../src/store/safe-path.js';

/** Revisions a client may name: git ref-name rules, or a 40-hex commit. */
describe('revisionProblem', () => {
  it.each([
    'main',
    'v1.0',
    'refs/pr/1',
    'release/2024-01',
    'feature_x.y',
    'a'.repeat(255),
    'ä-branch',
    '0123456789abcdef0123456789abcdef01234567',
  ])('accepts %j', (revision) => {
    expect(revisionProblem(revision)).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['..', '".."'],
    ['a..b', '".."'],
    ['../../etc', '".."'],
    ['-rf', 'start with "-"'],
    ['/main', 'start or end with "/"'],
    ['main/', 'start or end with "/"'],
    ['a//b', 'empty component'],
    ['main.', 'end with "."'],
    ['main.lock', '".lock"'],
    ['refs/heads.lock/x', '".lock"'],
    ['.hidden', 'starting with "."'],
    ['a/.b', 'starting with "."'],
    ['a@{1}', '"@{"'],
    ['@', '"@"'],
    ['a b', 'spaces'],
    ['a\u0000b', 'control'],
    ['a\nb', 'control'],
    ['a\u007fb', 'control'],
    ['a~1', '~'],
    ['a^', '~'],
    ['a:b', '~'],
    ['a?', '~'],
    ['a*', '~'],
    ['a[b', '~'],
    ['a\\b', '~'],
    ['a'.repeat(256), 'longer than 255 bytes'],
    ['ä'.repeat(128), 'longer than 255 bytes'],
  ])('refuses %j', (revision, reason) => {
    expect(revisionProblem(revision)).toContain(reason);
  });

  it('throws INVALID_REVISION naming the field, quoting at most 100 characters', () => {
    const long = `${'b'.repeat(300)}..`;
    expect(() => assertRevision('revision', long)).toThrow(Invalid);
    try {
      assertRevision('revision', long);
    } catch (error) {
      expect((error as Invalid).code).toBe('INVALID_REVISION');
      expect((error as Invalid).message).toMatch(/^revision "b{100}"… \(302 characters\)/);
    }
  });
});

const component = fc
  .stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_-]{0,10}(?:\.[A-Za-z0-9_-]{1,8})?$/)
  .filter((c) => !c.endsWith('.lock'));
const validRevision = fc.oneof(
  fc.array(component, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('/')),
  fc.stringMatching(/^[0-9a-f]{40}$/),
);

describe('revisionProblem (properties)', () => {
  it('accepts every name built by the rules, and every 40-hex commit', () => {
    fc.assert(
      fc.property(validRevision, (revision) => {
        expect(revisionProblem(revision)).toBeUndefined();
      }),
    );
  });

  it('accepts only what is safe as a file name under refs/, whatever the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), validRevision), (revision) => {
        if (revisionProblem(revision) !== undefined) return;
        expect(() => safeJoin('/cache/models--a--b/refs', revision)).not.toThrow();
        // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters is the point
        expect(revision).not.toMatch(/\.\.|@\{|[\u0000-\u0020\u007f~^:?*[\\]/);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses anything holding a control character, "..", "@{" or a forbidden character', () => {
    const bad = fc.oneof(
      fc.integer({ min: 0, max: 0x20 }).map((c) => String.fromCharCode(c === 0x20 ? 0x7f : c)),
      fc.constantFrom('..', '@{', ' ', '~', '^', ':', '?', '*', '[', '\\', '//'),
    );
    fc.assert(
      fc.property(validRevision, bad, fc.nat({ max: 20 }), (revision, inserted, at) => {
        const poisoned = revision.slice(0, at) + inserted + revision.slice(at);
        expect(revisionProblem(poisoned)).toBeDefined();
      }),
    );
  });
});
