import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnmatchRegExp, pathMatcher } from '../../src/services/path-patterns.js';

const PATHS = [
  'config.json',
  'tokenizer.json',
  'google/umt5-xxl/tokenizer.json',
  'model.safetensors',
  'onnx/model.onnx',
  'path/to/file.txt',
  'path/file.txt',
  'path',
  'README.md',
  '.gitattributes',
  'a[1].bin',
  'weights/part-00001-of-00002.safetensors',
  'x?y.txt',
  'Data/Upper.JSON',
  'sub\\win.txt',
];

/**
 * What huggingface_hub 1.33's `filter_repo_objects(PATHS, allow_patterns=[pattern])` answers,
 * recorded from a run of it (Python's fnmatchcase).
 */
const HUGGINGFACE_HUB_ANSWERS: [string, string[]][] = [
  ['*.json', ['config.json', 'tokenizer.json', 'google/umt5-xxl/tokenizer.json']],
  ['*.JSON', ['Data/Upper.JSON']],
  ['path/', ['path/to/file.txt', 'path/file.txt']],
  ['path/*', ['path/to/file.txt', 'path/file.txt']],
  ['onnx/', ['onnx/model.onnx']],
  ['*/tokenizer.json', ['google/umt5-xxl/tokenizer.json']],
  ['tokenizer.json', ['tokenizer.json']],
  ['?onfig.json', ['config.json']],
  ['*[0-9]-of-*', ['weights/part-00001-of-00002.safetensors']],
  ['[!a-m]*.json', ['tokenizer.json']],
  ['[a-c]*', ['config.json', 'a[1].bin']],
  ['a[1].bin', []],
  ['a[[]1].bin', ['a[1].bin']],
  ['x?y.txt', ['x?y.txt']],
  ['*', PATHS],
  ['**/*.json', ['google/umt5-xxl/tokenizer.json']],
  ['.*', ['.gitattributes']],
  ['*.safe*', ['model.safetensors', 'weights/part-00001-of-00002.safetensors']],
  ['weights/*00001*', ['weights/part-00001-of-00002.safetensors']],
  ['[]', []],
  ['[!]', []],
  ['path\\', ['path/to/file.txt', 'path/file.txt']],
  ['sub/*', ['sub\\win.txt']],
  ['[-a]*', ['a[1].bin']],
  ['[z-a]*', []],
];

describe('pathMatcher (huggingface_hub allow_patterns / ignore_patterns)', () => {
  it.each(HUGGINGFACE_HUB_ANSWERS)('%s selects what huggingface_hub selects', (pattern, expected) => {
    const matches = pathMatcher([pattern]);
    expect(PATHS.filter(matches)).toEqual(expected);
  });

  it('matches any of several patterns', () => {
    const matches = pathMatcher(['*.json', 'onnx/']);
    expect(PATHS.filter(matches)).toEqual([
      'config.json',
      'tokenizer.json',
      'google/umt5-xxl/tokenizer.json',
      'onnx/model.onnx',
    ]);
  });

  it('has no special character but * ? [ : regex syntax in a pattern is literal', () => {
    for (const literal of ['a+b.txt', '(x)|y', 'v1.0^$', '{a,b}.json', 'back.slash']) {
      expect(pathMatcher([literal])(literal), literal).toBe(true);
      expect(pathMatcher([literal])(`${literal}x`), literal).toBe(false);
    }
    expect(pathMatcher(['{a,b}.json'])('a.json')).toBe(false);
  });

  it('never throws, whatever the pattern, and a pattern of plain characters matches only itself', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (pattern, path) => {
        expect(() => pathMatcher([pattern])(path)).not.toThrow();
      }),
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._/ -]{1,20}$/), (plain) => {
        const matches = pathMatcher([plain]);
        expect(matches(plain) || plain.endsWith('/')).toBe(true);
        expect(matches(`${plain}!`) && !plain.endsWith('/')).toBe(false);
      }),
    );
  });

  it('translates as Python does: runs of * collapse, an unclosed [ is literal, ] first in a set is a member', () => {
    expect(fnmatchRegExp('a**b').source).toBe('^(?:a.*b)$');
    expect(fnmatchRegExp('[abc').test('[abc')).toBe(true);
    expect(fnmatchRegExp('[]x]').test(']')).toBe(true);
    expect(fnmatchRegExp('[!]x]').test('y')).toBe(true);
    expect(fnmatchRegExp('[!]x]').test('x')).toBe(false);
    expect(fnmatchRegExp('*').test('line\nbreak')).toBe(true);
  });
});
