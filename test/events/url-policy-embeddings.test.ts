import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isPrivateAddress,
  type LookupAll,
  UrlPolicy,
  WebhookUrlRefused,
} from '../../src/events/url-policy.js';

const noDns: LookupAll = async (hostname) => {
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
};
const strict = new UrlPolicy({ allowPrivate: false, lookup: noDns });

/** Spellings of private targets seen in the wild: every one is refused when private targets are not allowed. */
const PRIVATE_SPELLINGS = [
  'http://127.0.0.1/',
  'http://2130706433/',
  'http://0x7f.0.0.1/',
  'http://0177.0.0.1/',
  'http://127.1/',
  'http://[::1]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://169.254.169.254/',
  'http://[::ffff:a9fe:a9fe]/',
  'http://10.0.0.1/',
  'http://[fd00::1]/',
  'http://[fe80::1]/',
  'http://0.0.0.0/',
  'http://[::]/',
  'http://[::a9fe:a9fe]/',
  'http://[::127.0.0.1]/',
  'http://[64:ff9b::a9fe:a9fe]/',
  'http://[64:ff9b:1::7f00:1]/',
  'http://[2002:a9fe:a9fe::]/',
  'http://[::ffff:0:7f00:1]/',
  'http://[fec0::1]/',
];

describe('private targets in any spelling', () => {
  it.each(PRIVATE_SPELLINGS)('refuses %s', async (url) => {
    await expect(strict.check(url)).rejects.toThrow(WebhookUrlRefused);
    await expect(strict.check(url)).rejects.toThrow('WEBHOOK_ALLOW_PRIVATE');
  });

  it('counts all 22 spellings as refused', async () => {
    const outcomes = await Promise.allSettled(PRIVATE_SPELLINGS.map((url) => strict.check(url)));
    expect(PRIVATE_SPELLINGS).toHaveLength(22);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(22);
  });

  it.each([
    ['2130706433', true],
    ['0x7f.0.0.1', true],
    ['0177.0.0.1', true],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', false], // Teredo: server 65.54.227.120, client 8.8.8.8
    ['2001:0:a00:1:8000:63bf:f7f7:f7f7', true], // Teredo through a server at 10.0.0.1
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', true], // Teredo client 127.0.0.1 (stored inverted)
    ['2001:db8::1', true], // documentation
    ['100::1', true], // discard-only
    ['ff02::1', true], // multicast
    ['::1:0:0:1', true], // reserved, outside 2000::/3
    ['2002:808:808::1', false], // 6to4 of 8.8.8.8
    ['64:ff9b::808:808', false], // NAT64 of 8.8.8.8
    ['192.0.2.1', true], // TEST-NET-1
    ['198.18.0.1', true], // benchmarking
    ['240.0.0.1', true], // reserved
  ])('isPrivateAddress(%s) is %s', (address, expected) => {
    expect(isPrivateAddress(address)).toBe(expected);
  });
});

const octet = fc.integer({ min: 0, max: 255 });
const word = fc.integer({ min: 0, max: 0xffff });
const hex = (n: number) => n.toString(16);

/** An address inside `base/prefix`, with random host bits. */
function inBlock(base: string, prefix: number): fc.Arbitrary<number[]> {
  const network = base.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
  const size = 2 ** (32 - prefix);
  return fc.integer({ min: 0, max: size - 1 }).map((host) => {
    const value = network + host;
    return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
  });
}

const privateIPv4 = fc.oneof(
  ...(
    [
      ['0.0.0.0', 8],
      ['10.0.0.0', 8],
      ['100.64.0.0', 10],
      ['127.0.0.0', 8],
      ['169.254.0.0', 16],
      ['172.16.0.0', 12],
      ['192.0.0.0', 24],
      ['192.168.0.0', 16],
      ['198.18.0.0', 15],
      ['224.0.0.0', 4],
      ['240.0.0.0', 4],
    ] as const
  ).map(([base, prefix]) => inBlock(base, prefix)),
);

/** Blocks of well-known public services (Level 3/Google, AWS, Fastly, GitHub, Cloudflare). */
const publicIPv4 = fc.oneof(
  inBlock('8.0.0.0', 8),
  inBlock('52.0.0.0', 8),
  inBlock('151.101.0.0', 16),
  inBlock('185.199.108.0', 22),
  inBlock('104.16.0.0', 13),
);

/** Every way an IPv6 literal can carry an IPv4 address, each written as a URL host. */
const EMBEDDINGS: Record<string, (o: number[]) => string> = {
  'IPv4-mapped': (o) => `::ffff:${o.join('.')}`,
  'IPv4-mapped, hex': (o) => `::ffff:${hexPair(o)}`,
  'IPv4-compatible': (o) => `::${o.join('.')}`,
  'IPv4-translated': (o) => `::ffff:0:${hexPair(o)}`,
  'NAT64 64:ff9b::/96': (o) => `64:ff9b::${hexPair(o)}`,
  '6to4': (o) => `2002:${hexPair(o)}::1`,
  'Teredo client': (o) => `2001:0:4136:e378:8000:63bf:${hexPair(o.map((b) => 255 - b))}`,
};

function hexPair(o: number[]): string {
  const [a = 0, b = 0, c = 0, d = 0] = o;
  return `${hex(a * 256 + b)}:${hex(c * 256 + d)}`;
}

describe('properties', () => {
  for (const [name, embed] of Object.entries(EMBEDDINGS)) {
    it(`refuses any private IPv4 written as ${name}`, async () => {
      await fc.assert(
        fc.asyncProperty(privateIPv4, async (o) => {
          expect(isPrivateAddress(embed(o))).toBe(true);
          await expect(strict.check(`http://[${embed(o)}]/hook`)).rejects.toThrow(WebhookUrlRefused);
        }),
      );
    });

    it(`accepts any public IPv4 written as ${name}`, () => {
      fc.assert(
        fc.property(publicIPv4, (o) => {
          expect(isPrivateAddress(embed(o))).toBe(false);
        }),
      );
    });
  }

  it('refuses any IPv4 behind the local-use NAT64 prefix 64:ff9b:1::/48', () => {
    fc.assert(
      fc.property(fc.array(word, { minLength: 5, maxLength: 5 }), (rest) => {
        expect(isPrivateAddress(`64:ff9b:1:${rest.map(hex).join(':')}`)).toBe(true);
      }),
    );
  });

  it('refuses private IPv4 in decimal, hex and octal spellings that the URL parser normalizes', async () => {
    await fc.assert(
      fc.asyncProperty(privateIPv4, async (o) => {
        const value = o.reduce((acc, b) => acc * 256 + b, 0);
        for (const host of [String(value), `0x${hex(value)}`, o.map((b) => `0${b.toString(8)}`).join('.')]) {
          await expect(strict.check(`http://${host}/`)).rejects.toThrow(WebhookUrlRefused);
        }
      }),
    );
  });

  it('accepts public IPv4 and global unicast IPv6 literals', async () => {
    await fc.assert(
      fc.asyncProperty(publicIPv4, async (o) => {
        await expect(strict.check(`https://${o.join('.')}/hook`)).resolves.toBeInstanceOf(URL);
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0x2600, max: 0x260f }),
        fc.array(word, { minLength: 7, maxLength: 7 }),
        async (first, rest) => {
          const address = [first, ...rest].map(hex).join(':');
          expect(isPrivateAddress(address)).toBe(false);
          await expect(strict.check(`https://[${address}]/hook`)).resolves.toBeInstanceOf(URL);
        },
      ),
    );
  });

  it.each([
    ['unique-local', 0xfc00, 0xfdff],
    ['link-local', 0xfe80, 0xfebf],
    ['site-local', 0xfec0, 0xfeff],
    ['multicast', 0xff00, 0xffff],
  ])('refuses any %s IPv6 address', (_name, min, max) => {
    fc.assert(
      fc.property(fc.integer({ min, max }), fc.array(word, { minLength: 7, maxLength: 7 }), (first, rest) => {
        expect(isPrivateAddress([first, ...rest].map(hex).join(':'))).toBe(true);
      }),
    );
  });

  it('treats octets the same in every embedding', () => {
    fc.assert(
      fc.property(fc.tuple(octet, octet, octet, octet), (o) => {
        const verdicts = Object.values(EMBEDDINGS).map((embed) => isPrivateAddress(embed(o)));
        expect(new Set(verdicts).size).toBe(1);
        expect(verdicts[0]).toBe(isPrivateAddress(o.join('.')));
      }),
    );
  });
});
