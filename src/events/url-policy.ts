import dns from 'node:dns';
import type net from 'node:net';
import ipaddr from 'ipaddr.js';
import { Invalid } from '../errors.js';
import { isLoopbackHost } from '../loopback.js';

/**
 * Where webhooks may POST. Always: http(s) URLs without credentials. Anything but public unicast
 * (loopback, RFC 1918, link-local, site- and unique-local, CGNAT, reserved, multicast, and IPv6
 * spellings of those) only when allowed: otherwise a hub user could make the hub call into the
 * network it runs in (SSRF). The check runs at registration, again before every attempt (DNS
 * answers change), and inside the connection's own DNS lookup, so a name that resolves differently
 * between the check and the connect is still refused.
 */
export type AllowPrivateSetting = 'auto' | boolean;

export type LookupAll = (hostname: string) => Promise<readonly dns.LookupAddress[]>;

export class WebhookUrlRefused extends Invalid {
  constructor(message: string) {
    super('INVALID_WEBHOOK_URL', message);
  }
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** All globally routed IPv6 space is allocated from 2000::/3; the rest is reserved or local. */
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
/**
 * NAT64 for local use (RFC 8215): the operator chooses where the IPv4 address sits inside it, so no
 * embedding can be read back with certainty; it is never a public target.
 */
const NAT64_LOCAL_USE = ipaddr.IPv6.parseCIDR('64:ff9b:1::/48');

/**
 * True unless `address` (an IP literal; IPv4 also in decimal, octal or hex spelling) is public
 * unicast: IPv4 whose range ipaddr.js calls `unicast`, or IPv6 `unicast` inside 2000::/3. An IPv6
 * address that embeds an IPv4 one (mapped, compatible, translated, NAT64, 6to4, Teredo) is judged by
 * the IPv4 address it reaches, so `[::ffff:127.0.0.1]` and `[2002:7f00:1::]` are loopback.
 */
export function isPrivateAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) throw new Error(`not an IP address: ${address}`);
  return !isPublic(ipaddr.parse(address));
}

function isPublic(address: Address): boolean {
  if (address.kind() === 'ipv4') return address.range() === 'unicast';
  const v6 = address as ipaddr.IPv6;
  if (v6.match(NAT64_LOCAL_USE)) return false;
  const embedded = embeddedIPv4(v6);
  if (embedded) return embedded.every(isPublic);
  return v6.range() === 'unicast' && v6.match(GLOBAL_UNICAST);
}

/** The IPv4 address(es) an IPv6 address carries, or undefined when it carries none. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4[] | undefined {
  const [p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0, p6 = 0, p7 = 0] = address.parts;
  const v4 = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  switch (address.range()) {
    case 'ipv4Mapped': // ::ffff:a.b.c.d
    case 'rfc6145': // ::ffff:0:a.b.c.d (IPv4-translated)
      return [v4(p6, p7)];
    case '6to4': // 2002:AABB:CCDD::/48
      return [v4(p1, p2)];
    case 'teredo': // 2001:0:<server>:<flags>:<port>:<client, inverted>
      return [v4(p2, p3), v4(p6 ^ 0xffff, p7 ^ 0xffff)];
    case 'rfc6052': // 64:ff9b::a.b.c.d, the well-known NAT64 prefix (the local-use one is refused above)
      return [v4(p6, p7)];
  }
  // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks); `::` and `::1` land in 0/8.
  if (p0 === 0 && p1 === 0 && p2 === 0 && p3 === 0 && p4 === 0 && p5 === 0) return [v4(p6, p7)];
  return undefined;
}

/** `auto`: private targets are allowed when the hub itself only listens on loopback (a developer's machine). */
export function privateTargetsAllowed(setting: AllowPrivateSetting, listenHost: string): boolean {
  return setting === 'auto' ? isLoopbackHost(listenHost) : setting;
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
    if (ipaddr.isValid(host)) {
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
