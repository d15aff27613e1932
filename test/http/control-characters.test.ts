import { describe, expect, it } from 'vitest';
import { controlCharacterField } from '../../src/http/control-characters.js';

describe('controlCharacterField', () => {
  it.each([
    [{ repo_id: 'a\u0000b' }, 'body.repo_id'],
    [{ include: ['ok', 'x\u001f'] }, 'body.include.1'],
    [{ a: { b: [{ c: '\u007f' }] } }, 'body.a.b.0.c'],
    [{ 'ev\nil': 1 }, 'body: a field name'],
    [{ first: 'a\tb', second: '\u0000' }, 'body.first'],
  ])('finds the control character in %j at %s', (value, field) => {
    expect(controlCharacterField('body', value)).toBe(field);
  });

  it.each([{ repo_id: 'a/b' }, ['é', '𝕏', '\u202e'], 42, null, true, undefined, { n: 1, b: false }])(
    'finds none in %j',
    (value) => {
      expect(controlCharacterField('body', value)).toBeUndefined();
    },
  );

  it('walks 100 000 levels of nesting without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}"\\u0000"${']'.repeat(100_000)}`);
    expect(controlCharacterField('body', deep)).toMatch(/^body(\.0)+$/);
  });

  it('cuts long field names in the path it reports', () => {
    const field = controlCharacterField('body', { ['k'.repeat(10_000)]: '\u0000' });
    expect(field?.length).toBeLessThan(100);
  });
});
