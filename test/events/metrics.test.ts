import { describe, expect, it } from 'vitest';
import { type ClusterState, HubMetrics, type JobCount, type StoreUsage } from '../../src/events/metrics.js';
import { findSamples, parsePrometheusText, sampleValue } from '../support/prometheus.js';

/** A cluster source that counts its reads and answers what the test sets. */
function fakeCluster(jobs: JobCount[] = [], store: StoreUsage = { blobs: 0, bytes: 0 }) {
  const state = { jobs, store, jobReads: 0, storeReads: 0, failJobs: false, failStore: false };
  const cluster: ClusterState = {
    async jobCounts() {
      state.jobReads++;
      if (state.failJobs) throw new Error('database is closed');
      return state.jobs;
    },
    async storeUsage() {
      state.storeReads++;
      if (state.failStore) throw new Error('database is closed');
      return state.store;
    },
  };
  return { cluster, state };
}

async function scrape(metrics: HubMetrics) {
  const { contentType, body } = await metrics.render();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(body);
}

describe('HubMetrics', () => {
  it('counts upstream answers by status and hub error code, and retries', async () => {
    const metrics = new HubMetrics({ cluster: fakeCluster().cluster });
    metrics.upstreamResponse(200, undefined);
    metrics.upstreamResponse(200, undefined);
    metrics.upstreamResponse(302, undefined);
    metrics.upstreamResponse(401, 'GatedRepo');
    metrics.upstreamResponse(404, 'not a code; {"x"}');
    metrics.upstreamRetry();
    const parsed = await scrape(metrics);
    const name = 'model_hub_upstream_responses_total';
    expect(sampleValue(parsed, name, { status: '200', error_code: 'none' })).toBe(2);
    expect(sampleValue(parsed, name, { status: '302', error_code: 'none' })).toBe(1);
    expect(sampleValue(parsed, name, { status: '401', error_code: 'GatedRepo' })).toBe(1);
    // Upstream controls the header: an odd value is one bounded label, never echoed as is.
    expect(sampleValue(parsed, name, { status: '404', error_code: 'other' })).toBe(1);
    expect(sampleValue(parsed, 'model_hub_upstream_retries_total')).toBe(1);
  });

  it('records completed downloads: bytes, duration, throughput, and the source of each artifact', async () => {
    const metrics = new HubMetrics({ cluster: fakeCluster().cluster });
    metrics.downloadCompleted({ bytes: 100_000_000, seconds: 2, source: 'downloaded' });
    metrics.downloadCompleted({ bytes: 3_000_000_000, seconds: 1, source: 'downloaded' });
    metrics.downloadCompleted({ bytes: 0, seconds: 0.01, source: 'deduplicated' });
    metrics.downloadCompleted({ bytes: 0, seconds: 0.001, source: 'present' });
    const parsed = await scrape(metrics);
    expect(sampleValue(parsed, 'model_hub_downloaded_bytes_total')).toBe(3_100_000_000);
    expect(sampleValue(parsed, 'model_hub_artifacts_completed_total', { source: 'downloaded' })).toBe(2);
    expect(sampleValue(parsed, 'model_hub_artifacts_completed_total', { source: 'deduplicated' })).toBe(1);
    expect(sampleValue(parsed, 'model_hub_artifacts_completed_total', { source: 'present' })).toBe(1);
    // Only real transfers are observed: a reused blob's near-zero time would skew both histograms.
    expect(sampleValue(parsed, 'model_hub_download_duration_seconds_count')).toBe(2);
    expect(sampleValue(parsed, 'model_hub_download_duration_seconds_sum')).toBe(3);
    const throughput = 'model_hub_download_throughput_bytes_per_second';
    expect(sampleValue(parsed, `${throughput}_sum`)).toBe(3_050_000_000);
    expect(sampleValue(parsed, `${throughput}_bucket`, { le: '100000000' })).toBe(1); // 50 MB/s
    expect(sampleValue(parsed, `${throughput}_bucket`, { le: '1000000000' })).toBe(1);
    expect(sampleValue(parsed, `${throughput}_bucket`, { le: '5000000000' })).toBe(2); // 3 GB/s
  });

  it('records finished jobs, integrity failures and webhook deliveries, with zeroes before any', async () => {
    const metrics = new HubMetrics({ cluster: fakeCluster().cluster });
    const before = await scrape(metrics);
    expect(sampleValue(before, 'model_hub_integrity_failures_total', { kind: 'sha256' })).toBe(0);
    expect(sampleValue(before, 'model_hub_webhook_deliveries_total', { outcome: 'dead' })).toBe(0);
    expect(sampleValue(before, 'model_hub_artifacts_completed_total', { source: 'downloaded' })).toBe(0);

    metrics.jobFinished('sync', 'completed', 0.3);
    metrics.jobFinished('download', 'failed', 42);
    metrics.jobFinished('download', 'completed', 7);
    metrics.integrityFailure('sha256');
    metrics.integrityFailure('size');
    metrics.integrityFailure('size');
    metrics.webhookDelivery('succeeded');
    metrics.webhookDelivery('retry');
    metrics.webhookDelivery('retry');
    metrics.webhookDelivery('dead');
    const parsed = await scrape(metrics);
    const finished = 'model_hub_jobs_finished_total';
    expect(sampleValue(parsed, finished, { type: 'sync', status: 'completed' })).toBe(1);
    expect(sampleValue(parsed, finished, { type: 'download', status: 'failed' })).toBe(1);
    expect(sampleValue(parsed, finished, { type: 'download' })).toBe(2);
    expect(sampleValue(parsed, 'model_hub_job_duration_seconds_count', { type: 'download' })).toBe(2);
    expect(sampleValue(parsed, 'model_hub_job_duration_seconds_sum', { type: 'download' })).toBe(49);
    expect(sampleValue(parsed, 'model_hub_job_duration_seconds_bucket', { type: 'sync', le: '0.5' })).toBe(1);
    expect(sampleValue(parsed, 'model_hub_integrity_failures_total', { kind: 'sha256' })).toBe(1);
    expect(sampleValue(parsed, 'model_hub_integrity_failures_total', { kind: 'size' })).toBe(2);
    expect(sampleValue(parsed, 'model_hub_integrity_failures_total', { kind: 'git-sha1' })).toBe(0);
    expect(sampleValue(parsed, 'model_hub_webhook_deliveries_total', { outcome: 'retry' })).toBe(2);
    expect(sampleValue(parsed, 'model_hub_webhook_deliveries_total', { outcome: 'dead' })).toBe(1);
  });

  it('reads the deployment-wide gauges at scrape time, with every job type and status present', async () => {
    const { cluster, state } = fakeCluster(
      [
        { type: 'sync', status: 'completed', count: 3 },
        { type: 'download', status: 'pending', count: 4 },
        { type: 'sync', status: 'pending', count: 1 },
        { type: 'download', status: 'running', count: 2 },
      ],
      { blobs: 5, bytes: 12_345_678_901 },
    );
    const metrics = new HubMetrics({ cluster });
    let parsed = await scrape(metrics);
    expect(sampleValue(parsed, 'model_hub_jobs', { type: 'sync', status: 'completed' })).toBe(3);
    expect(sampleValue(parsed, 'model_hub_jobs', { type: 'download', status: 'running' })).toBe(2);
    expect(sampleValue(parsed, 'model_hub_jobs', { type: 'scan', status: 'failed' })).toBe(0);
    // Every type (sync, download, scan, gc, import) × every status (pending, running, completed, failed, cancelled).
    expect(findSamples(parsed, 'model_hub_jobs')).toHaveLength(25);
    expect(sampleValue(parsed, 'model_hub_queue_depth')).toBe(5);
    expect(sampleValue(parsed, 'model_hub_store_blobs')).toBe(5);
    expect(sampleValue(parsed, 'model_hub_store_bytes')).toBe(12_345_678_901);

    state.jobs = [{ type: 'sync', status: 'completed', count: 4 }];
    parsed = await scrape(metrics);
    expect(sampleValue(parsed, 'model_hub_jobs', { type: 'sync', status: 'completed' })).toBe(4);
    expect(sampleValue(parsed, 'model_hub_jobs', { type: 'download', status: 'pending' })).toBe(0);
    expect(sampleValue(parsed, 'model_hub_queue_depth')).toBe(0);
    expect(state.jobReads).toBe(2);
  });

  it('answers scrapes from one store query for a few seconds, and shares a query in flight', async () => {
    const { cluster, state } = fakeCluster([], { blobs: 1, bytes: 10 });
    let now = 1_000_000;
    const metrics = new HubMetrics({ cluster, storeCacheMs: 5000, now: () => now });
    await Promise.all([scrape(metrics), scrape(metrics), scrape(metrics)]);
    expect(state.storeReads).toBe(1);

    state.store = { blobs: 2, bytes: 30 };
    now += 4999;
    expect(sampleValue(await scrape(metrics), 'model_hub_store_bytes')).toBe(10);
    expect(state.storeReads).toBe(1);

    now += 1;
    expect(sampleValue(await scrape(metrics), 'model_hub_store_bytes')).toBe(30);
    expect(state.storeReads).toBe(2);
    expect(state.jobReads).toBe(5);
  });

  it('reports gauges it could not read as absent or NaN, counts the failure, and reads again next scrape', async () => {
    const { cluster, state } = fakeCluster([{ type: 'sync', status: 'running', count: 1 }], {
      blobs: 1,
      bytes: 10,
    });
    const errors: unknown[] = [];
    const metrics = new HubMetrics({ cluster, storeCacheMs: 0, onCollectError: (e) => errors.push(e) });
    expect(sampleValue(await scrape(metrics), 'model_hub_queue_depth')).toBe(0);

    state.failJobs = true;
    state.failStore = true;
    const failed = await scrape(metrics);
    expect(findSamples(failed, 'model_hub_jobs')).toEqual([]);
    expect(sampleValue(failed, 'model_hub_queue_depth')).toBeNaN();
    expect(sampleValue(failed, 'model_hub_store_bytes')).toBeNaN();
    expect(sampleValue(failed, 'model_hub_store_blobs')).toBeNaN();
    expect(sampleValue(failed, 'model_hub_metrics_collect_errors_total', { source: 'jobs' })).toBe(1);
    expect(sampleValue(failed, 'model_hub_metrics_collect_errors_total', { source: 'store' })).toBe(1);
    expect(errors.map((e) => (e as Error).message)).toEqual(['database is closed', 'database is closed']);
    // Process metrics still render while the database is away.
    expect(sampleValue(failed, 'model_hub_process_cpu_user_seconds_total')).toBeGreaterThan(0);

    state.failJobs = false;
    state.failStore = false;
    const recovered = await scrape(metrics);
    expect(sampleValue(recovered, 'model_hub_jobs', { type: 'sync', status: 'running' })).toBe(1);
    expect(sampleValue(recovered, 'model_hub_queue_depth')).toBe(0);
    expect(sampleValue(recovered, 'model_hub_store_bytes')).toBe(10);
  });

  it('keeps each instance on its own registry, with prefixed process metrics', async () => {
    const first = new HubMetrics({ cluster: fakeCluster().cluster });
    const second = new HubMetrics({ cluster: fakeCluster().cluster });
    first.upstreamRetry();
    first.upstreamRetry();
    second.upstreamRetry();
    const a = await scrape(first);
    const b = await scrape(second);
    expect(sampleValue(a, 'model_hub_upstream_retries_total')).toBe(2);
    expect(sampleValue(b, 'model_hub_upstream_retries_total')).toBe(1);
    expect(a.families.get('model_hub_process_resident_memory_bytes')?.type).toBe('gauge');
    expect(a.families.get('model_hub_nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
    expect([...a.families.keys()].every((name) => name.startsWith('model_hub_'))).toBe(true);
  });
});

describe('parsePrometheusText', () => {
  const valid = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 2\n';

  it('returns the samples of a valid exposition, unescaping label values', () => {
    const text = `${valid}# HELP g G \\\\ ok.\n# TYPE g gauge\ng{v="q\\"u\\\\o\\nte",w="2"} -Inf\n`;
    const parsed = parsePrometheusText(text);
    expect(parsed.samples).toEqual([
      { name: 'a_total', labels: { x: '1' }, value: 2 },
      { name: 'g', labels: { v: 'q"u\\o\nte', w: '2' }, value: -Infinity },
    ]);
    expect(parsed.families.get('g')).toEqual({ type: 'gauge', help: 'G \\ ok.' });
  });

  it.each([
    ['a sample without a TYPE', 'b 1\n'],
    ['a TYPE without a HELP', '# TYPE b gauge\nb 1\n'],
    ['a HELP without a TYPE', `${valid}# HELP b B.\n`],
    ['a second TYPE', `${valid}# TYPE a_total counter\n`],
    ['a bad value', '# HELP b B.\n# TYPE b gauge\nb one\n'],
    ['an unquoted label value', '# HELP b B.\n# TYPE b gauge\nb{x=1} 1\n'],
    ['an unterminated label set', '# HELP b B.\n# TYPE b gauge\nb{x="1" 1\n'],
    ['a bad escape', '# HELP b B.\n# TYPE b gauge\nb{x="\\t"} 1\n'],
    ['a duplicate series', `${valid}a_total{x="1"} 3\n`],
    ['interleaved families', `${valid}# HELP b B.\n# TYPE b gauge\nb 1\na_total{x="2"} 1\n`],
    ['a negative counter', '# HELP c_total C.\n# TYPE c_total counter\nc_total -1\n'],
    ['a missing final newline', valid.trimEnd()],
    [
      'non-cumulative buckets',
      '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
    ['a histogram without +Inf', '# HELP h H.\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
