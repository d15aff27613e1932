import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostOfHeader, isLoopbackHost } from '../src/loopback.js';

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['LocalHost', true],
    ['api.localhost', true],
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['localhost.example', false],
    ['127.0.0.1.nip.io', false],
    ['example.com', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it('holds for every address in 127.0.0.0/8 and for no address outside it', () => {
    fc.assert(
      fc.property(fc.ipV4(), (address) => {
        expect(isLoopbackHost(address)).toBe(address.startsWith('127.'));
      }),
    );
  });
});

describe('hostOfHeader', () => {
  it.each([
    ['localhost:8000', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]:8000', '[::1]'],
    ['hub.example', 'hub.example'],
    ['', undefined],
    ['a:b:c', undefined],
    ['[::1', undefined],
    ['host:99999999', undefined],
  ])('%j → %j', (header, expected) => {
    expect(hostOfHeader(header)).toBe(expected);
  });
});
