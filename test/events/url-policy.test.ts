import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPrivateAddress,
  type LookupAll,
  parseWebhookUrl,
  privateTargetsAllowed,
  UrlPolicy,
  WebhookUrlRefused,
} from '../../src/events/url-policy.js';

const answers: Record<string, string[]> = {
  'public.test': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
  'internal.test': ['10.0.0.7'],
  'mixed.test': ['93.184.215.14', '192.168.1.20'],
};
const fakeLookup: LookupAll = async (hostname) => {
  const addresses = answers[hostname];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

describe('parseWebhookUrl', () => {
  it.each([
    ['ftp://example.com/hook', 'must use http or https, not ftp'],
    ['file:///etc/passwd', 'must use http or https, not file'],
    ['javascript:alert(1)', 'must use http or https'],
    ['/relative/hook', 'not an absolute URL'],
    ['http://user:pw@example.com/hook', 'must not contain credentials'],
    ['https://token@example.com/hook', 'must not contain credentials'],
  ])('refuses %s', (url, message) => {
    expect(() => parseWebhookUrl(url)).toThrow(WebhookUrlRefused);
    expect(() => parseWebhookUrl(url)).toThrow(message);
  });

  it('accepts http and https URLs', () => {
    expect(parseWebhookUrl('https://example.com/hook?x=1').href).toBe('https://example.com/hook?x=1');
    expect(parseWebhookUrl('http://example.com:8080').href).toBe('http://example.com:8080/');
  });
});

describe('isPrivateAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.0.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe',
  ])('%s is private', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => {
      expect(isPrivateAddress(address)).toBe(false);
    },
  );
});

describe('privateTargetsAllowed', () => {
  it('follows an explicit setting', () => {
    expect(privateTargetsAllowed(true, '0.0.0.0')).toBe(true);
    expect(privateTargetsAllowed(false, '127.0.0.1')).toBe(false);
  });

  it('auto: allowed only when the hub listens on loopback', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost']) {
      expect(privateTargetsAllowed('auto', host)).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'hub.internal']) {
      expect(privateTargetsAllowed('auto', host)).toBe(false);
    }
  });
});

describe('UrlPolicy.check', () => {
  const strict = new UrlPolicy({ allowPrivate: false, lookup: fakeLookup });

  it('accepts public literals and names that resolve only to public addresses', async () => {
    await expect(strict.check('https://93.184.215.14/hook')).resolves.toBeInstanceOf(URL);
    await expect(strict.check('https://public.test/hook')).resolves.toBeInstanceOf(URL);
  });

  it.each([
    ['http://127.0.0.1:9000/hook', '127.0.0.1 is refused'],
    ['http://[::1]/hook', '::1 is refused'],
    ['http://[::ffff:7f00:1]/hook', 'is refused'],
    ['http://169.254.169.254/latest/meta-data', '169.254.169.254 is refused'],
    ['http://internal.test/hook', 'internal.test resolves to 10.0.0.7'],
    ['http://mixed.test/hook', 'mixed.test resolves to 192.168.1.20'],
    ['http://nowhere.test/hook', 'cannot resolve host nowhere.test (ENOTFOUND)'],
  ])('refuses %s', async (url, message) => {
    const refusal = strict.check(url);
    await expect(refusal).rejects.toThrow(WebhookUrlRefused);
    await expect(strict.check(url)).rejects.toThrow(message);
  });

  it('names the setting that allows private targets', async () => {
    await expect(strict.check('http://10.0.0.1/')).rejects.toThrow('WEBHOOK_ALLOW_PRIVATE');
  });

  it('allows private targets when configured, still refusing bad schemes and credentials', async () => {
    const lenient = new UrlPolicy({ allowPrivate: true, lookup: fakeLookup });
    await expect(lenient.check('http://127.0.0.1:9000/hook')).resolves.toBeInstanceOf(URL);
    await expect(lenient.check('http://internal.test/hook')).resolves.toBeInstanceOf(URL);
    await expect(lenient.check('ftp://127.0.0.1/')).rejects.toThrow('must use http or https');
    expect(lenient.connectLookup()).toBeUndefined();
  });
});

describe('UrlPolicy.connectLookup', () => {
  let server: ReturnType<typeof createServer>;
  let port: number;
  let agent: Agent;

  beforeAll(async () => {
    server = createServer((_request, response) => response.writeHead(204).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await agent?.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses, at connect time, a name that now resolves to a private address (DNS rebinding)', async () => {
    let rebound = false;
    const rebinding = new UrlPolicy({
      allowPrivate: false,
      lookup: async (hostname) => {
        if (hostname !== 'rebind.test') return fakeLookup(hostname);
        // Public while the URL is checked, loopback by the time the connection resolves it.
        const address = rebound ? '127.0.0.1' : '93.184.215.14';
        rebound = true;
        return [{ address, family: 4 }];
      },
    });
    const lookup = rebinding.connectLookup();
    expect(lookup).toBeDefined();
    agent = new Agent({ connect: { ...(lookup ? { lookup } : {}) } });
    const url = `http://rebind.test:${port}/hook`;
    await expect(rebinding.check(url)).resolves.toBeInstanceOf(URL);
    await expect(request(url, { method: 'POST', body: '{}', dispatcher: agent })).rejects.toThrow(
      'rebind.test resolves to 127.0.0.1',
    );
  });

  it('hands allowed answers to net.connect in the shape it asks for', async () => {
    const publicOnly = new UrlPolicy({
      allowPrivate: false,
      lookup: async () => [{ address: '93.184.215.14', family: 4 }],
    });
    const lookup = publicOnly.connectLookup();
    if (!lookup) throw new Error('expected a guarded lookup');
    const answer = await new Promise<unknown>((resolve, reject) =>
      lookup('public.test', { all: true }, (error, address) => (error ? reject(error) : resolve(address))),
    );
    expect(answer).toEqual([{ address: '93.184.215.14', family: 4 }]);
    const single = await new Promise<unknown>((resolve, reject) =>
      lookup('public.test', { family: 4 }, (error, address, family) =>
        error ? reject(error) : resolve([address, family]),
      ),
    );
    expect(single).toEqual(['93.184.215.14', 4]);
  });
});
