import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Invalid } from '../../src/errors.js';
import { safeJoin } from '../../src/store/safe-path.js';

/** Whatever upstream sends as a file name, safeJoin refuses it or returns a path inside the root. */
const ROOT = path.resolve('/srv/model-hub/store');

/** Path-ish strings built from the pieces attacks are made of, so the interesting cases are common. */
const hostilePath = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.constantFrom('..', '.', '', '/', '\\', '\u0000', '\u001f', '\u007f', 'C:', '%2e%2e', '~', '//'),
        fc.string({ unit: 'binary', maxLength: 8 }),
        fc.stringMatching(/^[a-z0-9._-]{1,12}$/),
      ),
      { maxLength: 12 },
    ),
    fc.constantFrom('/', ''),
  )
  .map(([parts, separator]) => parts.join(separator));

const plainSegment = fc
  .stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,30}$/)
  .filter((s) => s !== '.' && s !== '..');
const plainPath = fc.array(plainSegment, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/'));

function joinOutcome(relative: string): { ok: true; path: string } | { ok: false; error: unknown } {
  try {
    return { ok: true, path: safeJoin(ROOT, relative) };
  } catch (error) {
    return { ok: false, error };
  }
}

describe('safeJoin (properties)', () => {
  it('either refuses with INVALID_PATH or returns a path strictly inside the root', () => {
    fc.assert(
      fc.property(fc.oneof(hostilePath, fc.string({ unit: 'binary' })), (relative) => {
        const outcome = joinOutcome(relative);
        if (!outcome.ok) {
          expect(outcome.error).toBeInstanceOf(Invalid);
          expect((outcome.error as Invalid).code).toBe('INVALID_PATH');
          return;
        }
        const inside = path.relative(ROOT, outcome.path);
        expect(inside).not.toBe('');
        expect(inside === '..' || inside.startsWith(`..${path.sep}`)).toBe(false);
        expect(path.isAbsolute(inside)).toBe(false);
        expect(outcome.path.startsWith(ROOT + path.sep)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('joins plain relative paths to exactly root/<path>', () => {
    fc.assert(
      fc.property(plainPath, (relative) => {
        const joined = safeJoin(ROOT, relative);
        expect(joined).toBe(path.join(ROOT, ...relative.split('/')));
        expect(path.relative(ROOT, joined).split(path.sep).join('/')).toBe(relative);
      }),
    );
  });

  it('refuses any path holding a control character, a ".." segment or a leading "/"', () => {
    const control = fc.integer({ min: 0, max: 0x20 }).map((c) => String.fromCharCode(c === 0x20 ? 0x7f : c));
    const poisoned = fc.oneof(
      fc.tuple(plainPath, control, plainPath).map(([a, c, b]) => `${a}${c}${b}`),
      fc.tuple(plainPath, plainPath).map(([a, b]) => `${a}/../${b}`),
      fc.tuple(plainPath, fc.integer({ min: 1, max: 5 })).map(([a, n]) => `${a}${'/..'.repeat(n)}`),
      plainPath.map((a) => `/${a}`),
      plainPath.map((a) => `../${a}`),
    );
    fc.assert(
      fc.property(poisoned, (relative) => {
        expect(() => safeJoin(ROOT, relative)).toThrow(Invalid);
      }),
    );
  });
});
