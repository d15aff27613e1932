import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Invalid } from '../../src/errors.js';
import { assertSafeRelativePath, safeJoin } from '../../src/store/safe-path.js';

const root = path.resolve('/srv/store');

describe('safeJoin', () => {
  it('joins plain nested paths inside the root', () => {
    expect(safeJoin(root, 'config.json')).toBe(path.join(root, 'config.json'));
    expect(safeJoin(root, 'google/umt5-xxl/tokenizer.json')).toBe(
      path.join(root, 'google', 'umt5-xxl', 'tokenizer.json'),
    );
    expect(safeJoin(root, 'weird name with spaces & ü.bin')).toBe(
      path.join(root, 'weird name with spaces & ü.bin'),
    );
  });

  it.each([
    ['../evil.txt', '".." segment'],
    ['a/../../b.txt', '".." segment'],
    ['a/..', '".." segment'],
    ['/etc/passwd', 'absolute path'],
    ['C:/Windows/evil', 'absolute path'],
    ['ok/./x', '"." segment'],
    ['a//b', 'empty path segment'],
    ['trailing/', 'empty path segment'],
    ['', 'empty path'],
    ['nul\u0000byte', 'NUL or control character'],
    ['new\nline', 'NUL or control character'],
    ['..\\windows', 'backslash'],
    [`${'x'.repeat(256)}/a`, 'longer than 255 bytes'],
  ])('refuses %j (%s)', (unsafe, reason) => {
    expect(() => safeJoin(root, unsafe)).toThrow(Invalid);
    expect(() => assertSafeRelativePath(unsafe)).toThrow(reason);
  });
});
