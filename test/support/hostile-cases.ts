import { randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';

/**
 * Hostile requests generated from the API's own route table (the OpenAPI document at /docs/json),
 * so a new route gets them without anyone remembering to add it. Every case must be refused with a
 * 4xx in the error shape and change nothing. Each route starts from a base request (real or
 * well-formed ids, a body that cannot succeed on its own terms, see `BaseRequests`) and changes one
 * thing to something hostile.
 */

export interface RouteInfo {
  method: string;
  /** OpenAPI path, with `{param}` placeholders. */
  path: string;
  pathParams: string[];
  query: Record<string, Schema>;
  /** Names of the documented request headers (lower case). */
  headers: string[];
  body: Schema | undefined;
}

export interface HostileCase {
  /** `METHOD /path/{param}` */
  route: string;
  label: string;
  request: InjectOptions;
  /** The longest hostile text in the request, which no answer may echo whole. */
  echoProbe?: string;
  /**
   * Send over a real socket: `inject` resolves `..` in the URL as a browser would, where Node's
   * server hands the path to the router as it came.
   */
  overSocket?: boolean;
  /** A control character's field: the answer must be VALIDATION_FAILED naming it, on every backend. */
  controlCharacterIn?: string;
}

/** What each route's cases start from: values for path parameters, and a body. */
export interface BaseRequest {
  params?: Record<string, string>;
  body?: unknown;
}

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  anyOf?: Schema[];
  items?: Schema;
  enum?: unknown[];
  maxLength?: number;
  pattern?: string;
  format?: string;
};

/** Every operation of the OpenAPI document. */
export function routesOf(doc: { paths: Record<string, Record<string, any>> }): RouteInfo[] {
  const routes: RouteInfo[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      const parameters: { in: string; name: string; schema: Schema }[] = op.parameters ?? [];
      routes.push({
        method: method.toUpperCase(),
        path,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        query: Object.fromEntries(parameters.filter((p) => p.in === 'query').map((p) => [p.name, p.schema])),
        headers: parameters.filter((p) => p.in === 'header').map((p) => p.name.toLowerCase()),
        body: op.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return routes;
}

const HUGE = 'x'.repeat(10_000);
const LONG = 'y'.repeat(1_000);

/** Strings no field should accept, or that may only ever reach a lookup that finds nothing. */
export const HOSTILE_STRINGS: Record<string, string> = {
  NUL: 'a\u0000b',
  'only NUL': '\u0000',
  'control U+001F': 'a\u001fb',
  DEL: 'a\u007fb',
  newline: 'line\nbreak',
  tab: 'a\tb',
  'escape sequence': '\u001b[31mred\u001b[0m',
  empty: '',
  'huge (10 KB)': HUGE,
  'long (1 KB)': LONG,
  'unicode astral': '𝕏𝕐/ℤ',
  'RTL override': 'a\u202eb/c',
  BOM: '\ufeffa/b',
  'lone surrogate': '\ud800',
  'traversal ../': '../../etc/passwd',
  'traversal ..': '..',
  'encoded traversal': '%2e%2e/%2e%2e/etc',
  'absolute path': '/etc/passwd',
  'windows path': 'C:\\Windows\\system32',
  'SQL quote': "' OR '1'='1",
  'SQL drop': "x'; DROP TABLE models; --",
  'SQL comment': 'a/b--',
};

const WRONG_TYPES: Record<string, unknown> = {
  number: 42,
  boolean: true,
  null: null,
  array: [],
  object: {},
};

/** The values a field of this schema is sent instead of something valid. */
function hostileValues(schema: Schema): [string, unknown][] {
  const enumLike = schema.enum !== undefined || schema.anyOf?.every((s) => s.enum !== undefined);
  if (schema.type === 'string' || enumLike) {
    const strings = Object.entries(HOSTILE_STRINGS);
    const types = Object.entries(WRONG_TYPES).map(([k, v]): [string, unknown] => [`wrong type ${k}`, v]);
    return [...strings, ...types, ...(enumLike ? [['unknown enum value', 'nope'] as [string, unknown]] : [])];
  }
  if (schema.type === 'boolean') {
    return [
      ['string "yes"', 'yes'],
      ['string "true"', 'true'],
      ['number 1', 1],
      ['null', null],
      ['array', [true]],
      ['object', {}],
      ['NUL string', '\u0000'],
    ];
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    return [
      ['negative', -1],
      ['zero', 0],
      ['huge', 2 ** 53 + 2],
      ['fraction', 1.5],
      ['string', '5'],
      ['null', null],
    ];
  }
  if (schema.type === 'array') {
    const item = schema.items ?? {};
    const items = hostileValues(item).map(([k, v]): [string, unknown] => [`[${k}]`, [v]]);
    return [
      ['empty array', []],
      ['string', 'a'],
      ['object', { 0: 'a' }],
      ['null', null],
      ['nested arrays', [[[]]]],
      ['100 001 items', Array.from({ length: 100_001 }, () => randomUUID())],
      ...items,
    ];
  }
  return Object.entries(WRONG_TYPES);
}

/** Query-string values: text on the wire, encoded as a client would. */
function hostileQueryValues(schema: Schema): [string, string][] {
  const values: [string, string][] = [
    ['NUL', '%00'],
    ['control U+001F', 'a%1Fb'],
    ['newline', 'a%0Ab'],
    ['DEL', '%7F'],
    ['empty', ''],
    ['long (1 KB)', LONG],
    ['unicode', '%F0%9D%95%8F'],
    ['traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['encoded dots', '%2e%2e'],
    ['SQL quote', "1'%20OR%20'1'%3D'1"],
    ['bad percent-encoding', '%ZZ'],
    ['repeated', '1&PARAM=2'],
    ['wrong type (array syntax)', '[]'],
  ];
  if (schema.type === 'integer') {
    values.push(
      ['negative', '-1'],
      ['zero', '0'],
      ['above maximum', '100000'],
      ['huge', '99999999999999999999'],
      ['infinite', '1e999'],
      ['fraction', '1.5'],
      ['NaN', 'NaN'],
      ['word', 'abc'],
    );
  }
  if (schema.type === 'boolean') values.push(['yes', 'yes'], ['number', '2'], ['upper case', 'TRUE']);
  if (schema.type === 'string' && schema.pattern === undefined && schema.enum === undefined) {
    // Cursors: base64url of something that is not a cursor this API issued.
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    values.push(
      ['cursor holding NUL', b64(['\u0000', '\u0000'])],
      ['cursor holding NUL (3 parts)', b64(['\u0000', 1, '\u0000'])],
      ['cursor of wrong shape', b64(['only one'])],
      ['cursor of an object', b64({ createdAt: 'x', id: 'y' })],
      ['cursor not JSON', Buffer.from('not json').toString('base64url')],
      ['cursor 500 nested arrays', b64(JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`))],
    );
  }
  return values;
}

const PARAM_VALUES: [string, string][] = [
  ['not a uuid', 'not-a-uuid'],
  ['uuid with junk', `${randomUUID()}x`],
  ['NUL', '%00'],
  ['control', 'a%1Fb'],
  ['dot dot', '..'],
  ['encoded dot dot', '%2e%2e'],
  ['encoded traversal', '..%2F..%2Fetc%2Fpasswd'],
  ['encoded absolute path', '%2Fetc%2Fpasswd'],
  ['unicode', '%F0%9D%95%8F'],
  ['SQL quote', "1'%20OR%20'1'%3D'1"],
  ['too long (101)', 'z'.repeat(101)],
  ['bad percent-encoding', '%ZZ'],
  ['negative number', '-1'],
  ['spaces', '%20%20'],
];

function fill(path: string, params: Record<string, string>): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => params[name] ?? randomUUID());
}

/** The properties a body may have, over every alternative shape (`anyOf`). */
function bodyProperties(schema: Schema): { properties: Record<string, Schema>; required: string[] } {
  const shapes = schema.anyOf ?? [schema];
  const properties: Record<string, Schema> = {};
  for (const shape of shapes) Object.assign(properties, shape.properties ?? {});
  return { properties, required: shapes.flatMap((s) => s.required ?? []) };
}

/** Every hostile case for one route. Throws when a route with a body has no base: add one. */
export function hostileCases(route: RouteInfo, base: BaseRequest | undefined): HostileCase[] {
  const name = `${route.method} ${route.path}`;
  const method = route.method as InjectOptions['method'];
  const params = base?.params ?? {};
  const url = fill(route.path, params);
  const cases: HostileCase[] = [];
  const add = (label: string, request: InjectOptions, echoProbe?: string) =>
    cases.push({
      route: name,
      label,
      request: { method, ...request },
      ...(echoProbe !== undefined && echoProbe.length > 100 ? { echoProbe } : {}),
    });
  if (route.body !== undefined && base?.body === undefined) {
    throw new Error(`${name} takes a body but has no base request in the hostile-input table; add one`);
  }
  const withBody = (payload: unknown): InjectOptions =>
    route.body === undefined ? { url } : { url, payload: payload as object };

  for (const param of route.pathParams) {
    for (const [label, value] of PARAM_VALUES) {
      add(`path ${param}: ${label}`, withBody(base?.body), value);
      const last = cases.at(-1) as HostileCase;
      last.request.url = fill(route.path, { ...params, [param]: value });
      if (/^(\.\.|%2e%2e)$/i.test(value)) last.overSocket = true;
      if (/%(0|1[0-9A-F]|7F)/i.test(value)) last.controlCharacterIn = `params.${param}`;
    }
  }

  const queryNames = Object.keys(route.query);
  if (queryNames.length > 0) {
    for (const [param, schema] of Object.entries(route.query)) {
      for (const [label, value] of hostileQueryValues(schema)) {
        add(
          `query ${param}: ${label}`,
          { ...withBody(base?.body), url: `${url}?${param}=${value.replace('PARAM', param)}` },
          value,
        );
        if (/%(0|1[0-9A-F]|7F)/i.test(value)) {
          (cases.at(-1) as HostileCase).controlCharacterIn = `querystring.${param}`;
        }
      }
    }
    add('query: unknown field', { ...withBody(base?.body), url: `${url}?evil=1` });
    add('query: __proto__ field', { ...withBody(base?.body), url: `${url}?__proto__=x` });
    add('query: NUL in a field name', { ...withBody(base?.body), url: `${url}?ev%00il=1` });
    (cases.at(-1) as HostileCase).controlCharacterIn = 'querystring: a field name';
  }

  if (route.body !== undefined) {
    const { properties, required } = bodyProperties(route.body);
    const baseBody = base?.body as Record<string, unknown>;
    for (const [field, schema] of Object.entries(properties)) {
      for (const [label, value] of hostileValues(schema)) {
        const probe = typeof value === 'string' ? value : undefined;
        add(`body ${field}: ${label}`, { url, payload: { ...baseBody, [field]: value } }, probe);
        const control = controlPath(value);
        if (control !== undefined)
          (cases.at(-1) as HostileCase).controlCharacterIn = `body.${field}${control}`;
      }
    }
    if (required.length > 0) add('body: required fields missing', { url, payload: {} });
    add('body: unknown field', { url, payload: { ...baseBody, evil: 1 } });
    add('body: NUL in a field name', { url, payload: { ...baseBody, 'ev\u0000il': 1 } });
    (cases.at(-1) as HostileCase).controlCharacterIn = 'body: a field name';
    add('body: huge field name', { url, payload: { ...baseBody, [HUGE]: 1 } }, HUGE);
    for (const [label, value] of Object.entries(WRONG_TYPES)) {
      if (label !== 'object') add(`body: ${label} instead of an object`, { url, payload: value as object });
    }
    add('body: string instead of an object', json(url, '"text"'));
    const text = JSON.stringify(baseBody);
    add('body: truncated JSON', json(url, text.slice(0, Math.max(1, Math.floor(text.length / 2)))));
    add('body: empty with a JSON content type', json(url, ''));
    add('body: __proto__ pollution', json(url, `{"__proto__":{"polluted":true},${text.slice(1)}`));
    add(
      'body: constructor pollution',
      json(url, `{"constructor":{"prototype":{"polluted":true}},${text.slice(1)}`),
    );
    add('body: 100 000 nested arrays', json(url, `${'['.repeat(100_000)}${']'.repeat(100_000)}`));
    add('body: duplicate keys hiding NUL', json(url, `${text.slice(0, -1)},"evil":"a","evil":"\\u0000"}`));
    add('body: over the size limit (2 MB)', {
      url,
      payload: { ...baseBody, pad: 'p'.repeat(2 * 1024 * 1024) },
    });
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/jsonx',
      'image/png',
    ]) {
      add(`content type ${type}`, { url, headers: { 'content-type': type }, payload: text });
    }
    add('content type missing', { url, headers: { 'content-type': '' }, payload: text });
  }

  if (route.headers.includes('idempotency-key')) {
    for (const [label, value] of [
      ['empty', ''],
      ['256 characters', 'k'.repeat(256)],
      ['10 KB', HUGE],
      ['a space', 'a b'],
      ['a tab', 'a\tb'],
      ['non-ASCII', 'clé'],
    ] as const) {
      add(
        `header Idempotency-Key: ${label}`,
        { ...withBody(base?.body), headers: { 'idempotency-key': value } },
        value,
      );
    }
  }

  if ('last_event_id' in route.query) {
    for (const [label, value] of [
      ['word', 'abc'],
      ['negative', '-1'],
      ['too many digits', '1'.repeat(16)],
      ['SQL', '1 OR 1=1'],
      ['exponent', '1e5'],
    ]) {
      add(`header Last-Event-ID: ${label}`, { url, headers: { 'last-event-id': value as string } });
    }
  }

  add('url: bad percent-encoding', { ...withBody(base?.body), url: `${url}%ZZ` });
  add(
    'url: 100 KB',
    { ...withBody(base?.body), url: `${url}?pad=${'u'.repeat(100_000)}` },
    'u'.repeat(100_000),
  );
  add('url: 9 KB path', { ...withBody(base?.body), url: `${url}/${'v'.repeat(9_000)}` }, 'v'.repeat(9_000));
  add('url: traversal after the path', { ...withBody(base?.body), url: `${url}/../../../etc/passwd` });
  (cases.at(-1) as HostileCase).overSocket = true;
  return cases;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Where in a hostile value a control character sits: '' for the value itself, '.0' for its first item. */
function controlPath(value: unknown): string | undefined {
  if (typeof value === 'string') return CONTROL.test(value) ? '' : undefined;
  if (Array.isArray(value) && typeof value[0] === 'string' && CONTROL.test(value[0])) return '.0';
  return undefined;
}

function json(url: string, payload: string): InjectOptions {
  return { url, headers: { 'content-type': 'application/json' }, payload };
}
