/**
 * A strict parser for the Prometheus text exposition format (0.0.4), for tests: every line must be
 * a well-formed comment, HELP, TYPE or sample; every family has exactly one HELP and one TYPE,
 * declared before its samples, which are contiguous; sample names fit their family's type; no series
 * appears twice; histogram buckets are cumulative and end in `+Inf` equal to `_count`. Anything else
 * throws with the line number.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedMetrics {
  families: Map<string, { type: MetricType; help: string }>;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Values as Prometheus reads them (Go's ParseFloat): NaN and Inf in any case; prom-client writes `Nan`. */
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^(?:nan|[+-]?inf(?:inity)?)$/i;
const TIMESTAMP = /^-?\d+$/;
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

export function parsePrometheusText(text: string): ParsedMetrics {
  const families = new Map<string, { type: MetricType; help: string }>();
  const helps = new Map<string, string>();
  const samples: Sample[] = [];
  const seenSeries = new Set<string>();
  const finishedFamilies = new Set<string>();
  let currentFamily: string | undefined;

  const lines = text.split('\n');
  if (lines.at(-1) !== '') throw new Error('exposition does not end with a newline');
  for (const [index, line] of lines.entries()) {
    const fail: (problem: string) => never = (problem) => {
      throw new Error(`line ${index + 1}: ${problem}: ${JSON.stringify(line)}`);
    };
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const match = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!match) continue; // a plain comment
      const [, keyword, name = '', rest = ''] = match;
      if (!METRIC_NAME.test(name)) fail('bad metric name');
      if (finishedFamilies.has(name) || samples.some((s) => familyOf(s.name, families) === name))
        fail(`${keyword} after samples of ${name}`);
      if (keyword === 'HELP') {
        if (helps.has(name)) fail('second HELP');
        if (/\\[^\\n]/.test(rest.replaceAll('\\\\', ''))) fail('bad escape in HELP');
        helps.set(name, rest.replaceAll('\\n', '\n').replaceAll('\\\\', '\\'));
      } else {
        if (families.has(name)) fail('second TYPE');
        if (!TYPES.has(rest)) fail('unknown type');
        families.set(name, { type: rest as MetricType, help: '' });
      }
      continue;
    }
    const sample = parseSample(line, fail);
    const family = familyOf(sample.name, families);
    if (family === undefined) fail('sample without a TYPE for its family');
    const name = family;
    if (finishedFamilies.has(name)) fail(`samples of ${name} are not contiguous`);
    if (currentFamily !== name) {
      if (currentFamily !== undefined) finishedFamilies.add(currentFamily);
      currentFamily = name;
    }
    const series = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seenSeries.has(series)) fail('duplicate series');
    seenSeries.add(series);
    const type = families.get(name)?.type;
    if (type === 'histogram' && sample.name.endsWith('_bucket') && !('le' in sample.labels))
      fail('bucket without le');
    if (type === 'summary' && sample.name === name && !('quantile' in sample.labels))
      fail('summary sample without quantile');
    if (type === 'counter' && !(sample.value >= 0)) fail('counter value is not a non-negative number');
    samples.push(sample);
  }

  for (const [name, family] of families) {
    const help = helps.get(name);
    if (help === undefined) throw new Error(`${name} has a TYPE but no HELP`);
    family.help = help;
    if (family.type === 'histogram') checkHistogram(name, samples);
  }
  for (const name of helps.keys()) if (!families.has(name)) throw new Error(`${name} has a HELP but no TYPE`);
  return { families, samples };
}

/** Samples named `name` whose labels include `labels`. */
export function findSamples(
  metrics: ParsedMetrics,
  name: string,
  labels: Record<string, string> = {},
): Sample[] {
  return metrics.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
}

/** The sum of the matching samples; throws when there is none, so a missing series never reads as 0. */
export function sampleValue(
  metrics: ParsedMetrics,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = findSamples(metrics, name, labels);
  if (found.length === 0) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return found.reduce((sum, s) => sum + s.value, 0);
}

function familyOf(sampleName: string, families: ParsedMetrics['families']): string | undefined {
  for (const [name, { type }] of families) {
    if (SUFFIXES[type].some((suffix) => sampleName === `${name}${suffix}`)) return name;
  }
  return undefined;
}

function parseSample(line: string, fail: (problem: string) => never): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) return fail('bad metric name');
  const name = nameMatch[0];
  let position = name.length;
  const labels: Record<string, string> = {};
  if (line[position] === '{') {
    position++;
    while (line[position] !== '}') {
      const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(position));
      if (!labelMatch) return fail('bad label');
      const [matched, labelName = ''] = labelMatch;
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) fail('bad label name');
      if (labelName in labels) fail('repeated label');
      position += matched.length;
      let value = '';
      for (;;) {
        const char = line[position];
        if (char === undefined) fail('unterminated label value');
        if (char === '"') break;
        if (char === '\\') {
          const escaped = line[position + 1];
          if (escaped === '\\' || escaped === '"') value += escaped;
          else if (escaped === 'n') value += '\n';
          else fail('bad escape in label value');
          position += 2;
          continue;
        }
        value += char;
        position++;
      }
      labels[labelName] = value;
      position++; // closing quote
      if (line[position] === ',') position++;
      else if (line[position] !== '}') fail('expected , or } after a label');
    }
    position++; // closing brace
  }
  const rest = line.slice(position);
  const valueMatch = /^ (\S+)(?: (\S+))?$/.exec(rest);
  if (!valueMatch) return fail('expected " <value> [timestamp]" after the name and labels');
  const [, rawValue = '', timestamp] = valueMatch;
  if (!FLOAT.test(rawValue)) fail('bad value');
  if (timestamp !== undefined && !TIMESTAMP.test(timestamp)) fail('bad timestamp');
  const special = /^([+-]?)inf(?:inity)?$/i.exec(rawValue);
  const value = special
    ? special[1] === '-'
      ? -Infinity
      : Infinity
    : /^nan$/i.test(rawValue)
      ? NaN
      : Number(rawValue);
  return { name, labels, value };
}

/** Per label set: `le` values ascending, counts non-decreasing, a `+Inf` bucket equal to `_count`. */
function checkHistogram(name: string, samples: readonly Sample[]): void {
  const seriesKey = (labels: Record<string, string>) =>
    JSON.stringify(
      Object.entries(labels)
        .filter(([key]) => key !== 'le')
        .sort(),
    );
  const buckets = new Map<string, Sample[]>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const key = seriesKey(s.labels);
    buckets.set(key, [...(buckets.get(key) ?? []), s]);
  }
  for (const [key, series] of buckets) {
    let previousBound = -Infinity;
    let previousCount = 0;
    for (const bucket of series) {
      const bound = bucket.labels.le === '+Inf' ? Infinity : Number(bucket.labels.le);
      if (!(bound > previousBound)) throw new Error(`${name}${key}: le not ascending`);
      if (bucket.value < previousCount) throw new Error(`${name}${key}: buckets not cumulative`);
      previousBound = bound;
      previousCount = bucket.value;
    }
    if (previousBound !== Infinity) throw new Error(`${name}${key}: no +Inf bucket`);
    const count = samples.find((s) => s.name === `${name}_count` && seriesKey(s.labels) === key);
    if (count?.value !== previousCount) throw new Error(`${name}${key}: +Inf bucket differs from _count`);
  }
}
