import { describe, expect, it } from 'vitest';
import { parseByteRange } from '../../src/http/byte-range.js';

describe('parseByteRange', () => {
  it('serves single ranges, clamped to the file', () => {
    expect(parseByteRange('bytes=0-0', 10)).toEqual({ kind: 'partial', start: 0, end: 0 });
    expect(parseByteRange('bytes=2-5', 10)).toEqual({ kind: 'partial', start: 2, end: 5 });
    expect(parseByteRange('bytes=7-', 10)).toEqual({ kind: 'partial', start: 7, end: 9 });
    expect(parseByteRange('bytes=3-100', 10)).toEqual({ kind: 'partial', start: 3, end: 9 });
    expect(parseByteRange('bytes=-4', 10)).toEqual({ kind: 'partial', start: 6, end: 9 });
    expect(parseByteRange('bytes=-40', 10)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(parseByteRange(' Bytes=1-1 ', 10)).toEqual({ kind: 'partial', start: 1, end: 1 });
  });

  it('is unsatisfiable past the end, for an empty suffix, and for an empty file', () => {
    for (const header of ['bytes=10-', 'bytes=10-20', 'bytes=99999999999999999999-', 'bytes=-0']) {
      expect(parseByteRange(header, 10), header).toEqual({ kind: 'unsatisfiable' });
    }
    expect(parseByteRange('bytes=0-0', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores what it does not serve: no header, other units, several ranges, junk, reversed', () => {
    for (const header of [
      undefined,
      'items=0-1',
      'bytes=0-1,3-4',
      'bytes=a-b',
      'bytes=-',
      'bytes=5-2',
      'bytes=--1',
    ]) {
      expect(parseByteRange(header, 10), String(header)).toEqual({ kind: 'full' });
    }
  });
});
