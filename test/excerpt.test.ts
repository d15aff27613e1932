import { describe, expect, it } from 'vitest';
import { quoteExcerpt } from '../src/excerpt.js';

describe('quoteExcerpt', () => {
  it('quotes short values whole, JSON-escaped', () => {
    expect(quoteExcerpt('a/b')).toBe('"a/b"');
    expect(quoteExcerpt('a\u0000b\nc')).toBe('"a\\u0000b\\nc"');
  });

  it('escapes DEL and C1 controls, which JSON leaves raw', () => {
    expect(quoteExcerpt('a\u007fb\u009bc')).toBe('"a\\u007fb\\u009bc"');
  });

  it('cuts long values to 100 characters and says how long they were', () => {
    const quoted = quoteExcerpt('x'.repeat(10_000));
    expect(quoted).toBe(`"${'x'.repeat(100)}"… (10000 characters)`);
  });
});
