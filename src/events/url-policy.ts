import dns from 'node:dns';
import net from 'node:net';
import { Invalid } from '../errors.js';

/**
 * Where webhooks may POST. Always: http(s) URLs without credentials. Private targets (loopback,
 * RFC 1918, link-local, unique-local, CGNAT, unspecified, multicast) only when allowed: otherwise a
 * hub user could make the hub call into the network it runs in (SSRF). The check runs at
 * registration, again before every attempt (DNS answers change), and inside the connection's own
 * DNS lookup, so a name that resolves differently between the check and the connect is still refused.
 */
export type AllowPrivateSetting = 'auto' | boolean;

export type LookupAll = (hostname: string) => Promise<readonly dns.LookupAddress[]>;

export class WebhookUrlRefused extends Invalid {
  constructor(message: string) {
    super('INVALID_WEBHOOK_URL', message);
  }
}

const PRIVATE_RANGES = new net.BlockList();
for (const [network, prefix] of [
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
] as const) {
  PRIVATE_RANGES.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE_RANGES.addSubnet(network, prefix, 'ipv6');
}

/** IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are checked against the IPv4 ranges too. */
export function isPrivateAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 0) throw new Error(`not an IP address: ${address}`);
  return PRIVATE_RANGES.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `auto`: private targets are allowed when the hub itself only listens on loopback (a developer's machine). */
export function privateTargetsAllowed(setting: AllowPrivateSetting, listenHost: string): boolean {
  if (setting !== 'auto') return setting;
  const host = listenHost.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  const family = net.isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

const REFUSAL_HINT =
  'webhooks may not target private, loopback or link-local addresses here (WEBHOOK_ALLOW_PRIVATE)';

export class UrlPolicy {
  private readonly lookupAll: LookupAll;

  constructor(private readonly options: { allowPrivate: boolean; lookup?: LookupAll }) {
    this.lookupAll = options.lookup ?? systemLookup;
  }

  /** Parses `url` and checks it; throws `WebhookUrlRefused` with a message naming what is wrong. */
  async check(url: string): Promise<URL> {
    const parsed = parseWebhookUrl(url);
    if (this.options.allowPrivate) return parsed;
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) !== 0) {
      if (isPrivateAddress(host)) throw new WebhookUrlRefused(`url: ${host} is refused: ${REFUSAL_HINT}`);
      return parsed;
    }
    let addresses: readonly dns.LookupAddress[];
    try {
      addresses = await this.lookupAll(host);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new WebhookUrlRefused(
        `url: cannot resolve host ${host}${typeof code === 'string' ? ` (${code})` : ''}`,
      );
    }
    assertPublic(host, addresses);
    return parsed;
  }

  /**
   * A `lookup` for `net.connect`/`tls.connect` that refuses private answers, or undefined when
   * private targets are allowed (the system lookup is then fine).
   */
  connectLookup(): net.LookupFunction | undefined {
    if (this.options.allowPrivate) return undefined;
    return (hostname, options, callback) => {
      this.lookupAll(hostname).then(
        (addresses) => {
          try {
            assertPublic(hostname, addresses);
          } catch (error) {
            callback(error as NodeJS.ErrnoException, options.all ? [] : '', undefined);
            return;
          }
          const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
          const usable = wanted ? addresses.filter((a) => a.family === wanted) : [...addresses];
          const first = usable[0];
          if (options.all) callback(null, usable);
          else if (first) callback(null, first.address, first.family);
          else
            callback(
              Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' }),
              '',
            );
        },
        (error: NodeJS.ErrnoException) => callback(error, options.all ? [] : ''),
      );
    };
  }
}

/** The checks that need no DNS: an absolute http(s) URL without user or password. */
export function parseWebhookUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebhookUrlRefused('url is not an absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new WebhookUrlRefused(`url must use http or https, not ${parsed.protocol.replace(/:$/, '')}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new WebhookUrlRefused(
      'url must not contain credentials (user:password@); use a secret to authenticate deliveries',
    );
  }
  return parsed;
}

function assertPublic(host: string, addresses: readonly dns.LookupAddress[]): void {
  if (addresses.length === 0) throw new WebhookUrlRefused(`url: host ${host} has no address`);
  const refused = addresses.find((a) => isPrivateAddress(a.address));
  if (refused) {
    throw new WebhookUrlRefused(
      `url: host ${host} resolves to ${refused.address}, which is refused: ${REFUSAL_HINT}`,
    );
  }
}
