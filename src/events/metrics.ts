import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JobStatus, JobType } from '../db/schema.js';

/**
 * Prometheus metrics of one process, on a registry of its own (several apps may share a process in
 * tests, so the global default registry is never used). Two kinds:
 *
 * - events this process saw (upstream answers, retries, downloads, jobs it ran, webhook deliveries):
 *   counters and histograms, summed over processes by Prometheus;
 * - the state of the whole deployment (jobs per status, queue depth, store size): gauges read from
 *   the database at scrape time, so every process reports the same values.
 */
export interface HubInstrumentation {
  /** Every upstream HTTP answer, redirects included; `errorCode` is the hub's X-Error-Code. */
  upstreamResponse(status: number, errorCode: string | undefined): void;
  upstreamRetry(): void;
  integrityFailure(kind: IntegrityKind): void;
  downloadCompleted(download: CompletedDownload): void;
  jobFinished(type: string, status: 'completed' | 'failed' | 'cancelled', seconds: number): void;
  webhookDelivery(outcome: WebhookOutcome): void;
}

export type IntegrityKind = 'sha256' | 'git-sha1' | 'size';
export type DownloadSource = 'downloaded' | 'deduplicated' | 'present' | 'imported';
export type WebhookOutcome = 'succeeded' | 'retry' | 'dead';

export interface CompletedDownload {
  /** Bytes fetched from upstream (0 when an existing blob was reused). */
  bytes: number;
  seconds: number;
  source: DownloadSource;
}

export interface JobCount {
  type: JobType;
  status: JobStatus;
  count: number;
}

export interface StoreUsage {
  blobs: number;
  bytes: number;
}

/** Where the deployment-wide gauges come from (the database); read at scrape time. */
export interface ClusterState {
  jobCounts(): Promise<readonly JobCount[]>;
  storeUsage(): Promise<StoreUsage>;
}

export interface HubMetricsOptions {
  cluster: ClusterState;
  /** How long one store query answers scrapes: a scrape storm must not hammer the database (ms, default 5000). */
  storeCacheMs?: number;
  /** A gauge query failed: that scrape reports the job series absent and the single gauges as NaN. */
  onCollectError?: (error: unknown) => void;
  now?: () => number;
}

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

const PREFIX = 'model_hub_';

// Records whose keys the compiler checks against the unions, so a new type or status is not forgotten.
const JOB_TYPES = Object.keys({ sync: 0, download: 0, scan: 0, gc: 0, import: 0 } satisfies Record<
  JobType,
  0
>) as JobType[];
const JOB_STATUSES = Object.keys({
  pending: 0,
  running: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
} satisfies Record<JobStatus, 0>) as JobStatus[];
const INTEGRITY_KINDS: readonly IntegrityKind[] = ['sha256', 'git-sha1', 'size'];
const DOWNLOAD_SOURCES: readonly DownloadSource[] = ['downloaded', 'deduplicated', 'present', 'imported'];
const WEBHOOK_OUTCOMES: readonly WebhookOutcome[] = ['succeeded', 'retry', 'dead'];

/** X-Error-Code comes from upstream: anything unexpected is one label value, not a new series each. */
const HUB_ERROR_CODE = /^[A-Za-z][A-Za-z0-9]{0,39}$/;

export class HubMetrics implements HubInstrumentation {
  private readonly registry = new Registry();
  private readonly upstreamResponses: Counter<'status' | 'error_code'>;
  private readonly upstreamRetries: Counter;
  private readonly integrityFailures: Counter<'kind'>;
  private readonly downloadedBytes: Counter;
  private readonly downloadDuration: Histogram;
  private readonly downloadThroughput: Histogram;
  private readonly artifactsCompleted: Counter<'source'>;
  private readonly jobsFinished: Counter<'type' | 'status'>;
  private readonly jobDuration: Histogram<'type'>;
  private readonly webhookDeliveries: Counter<'outcome'>;
  private readonly jobs: Gauge<'type' | 'status'>;
  private readonly queueDepth: Gauge;
  private readonly storeBytes: Gauge;
  private readonly storeBlobs: Gauge;
  private readonly collectErrors: Counter<'source'>;
  private readonly storeUsage: () => Promise<StoreUsage>;

  constructor(private readonly options: HubMetricsOptions) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });

    this.upstreamResponses = new Counter({
      name: `${PREFIX}upstream_responses_total`,
      help: 'HTTP answers from the upstream hub and its CDN, redirects included, by status and X-Error-Code.',
      labelNames: ['status', 'error_code'],
      registers,
    });
    this.upstreamRetries = new Counter({
      name: `${PREFIX}upstream_retries_total`,
      help: 'Upstream requests retried after a transient failure.',
      registers,
    });
    this.integrityFailures = new Counter({
      name: `${PREFIX}integrity_failures_total`,
      help: 'Downloads whose bytes did not match what upstream advertised, by check (sha256, git-sha1, size).',
      labelNames: ['kind'],
      registers,
    });
    this.downloadedBytes = new Counter({
      name: `${PREFIX}downloaded_bytes_total`,
      help: 'Verified bytes fetched from upstream into the store.',
      registers,
    });
    this.downloadDuration = new Histogram({
      name: `${PREFIX}download_duration_seconds`,
      help: 'Time to fetch and verify one file from upstream.',
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers,
    });
    this.downloadThroughput = new Histogram({
      name: `${PREFIX}download_throughput_bytes_per_second`,
      help: 'Average throughput of one file fetched from upstream.',
      buckets: [1e5, 1e6, 5e6, 1e7, 2.5e7, 5e7, 1e8, 2.5e8, 5e8, 1e9, 2.5e9, 5e9, 1e10],
      registers,
    });
    this.artifactsCompleted = new Counter({
      name: `${PREFIX}artifacts_completed_total`,
      help: 'Artifacts completed, by source: downloaded, deduplicated (an existing blob reused), present, or imported (from a local file).',
      labelNames: ['source'],
      registers,
    });
    this.jobsFinished = new Counter({
      name: `${PREFIX}jobs_finished_total`,
      help: 'Jobs this process ran to an end, by type and final status.',
      labelNames: ['type', 'status'],
      registers,
    });
    this.jobDuration = new Histogram({
      name: `${PREFIX}job_duration_seconds`,
      help: 'Run time of one job attempt, by type.',
      labelNames: ['type'],
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600, 7200, 21600],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: `${PREFIX}webhook_deliveries_total`,
      help: 'Webhook delivery attempts, by outcome: succeeded, retry (will be tried again) or dead (gave up).',
      labelNames: ['outcome'],
      registers,
    });
    this.jobs = new Gauge({
      name: `${PREFIX}jobs`,
      help: 'Jobs in the deployment by type and status (from the database).',
      labelNames: ['type', 'status'],
      registers,
    });
    this.queueDepth = new Gauge({
      name: `${PREFIX}queue_depth`,
      help: 'Jobs waiting for a worker in the deployment (pending, from the database).',
      registers,
    });
    this.storeBytes = new Gauge({
      name: `${PREFIX}store_bytes`,
      help: 'Total size of the distinct verified blobs the artifacts point at (from the database).',
      registers,
    });
    this.storeBlobs = new Gauge({
      name: `${PREFIX}store_blobs`,
      help: 'Distinct verified blobs the artifacts point at (from the database).',
      registers,
    });
    this.collectErrors = new Counter({
      name: `${PREFIX}metrics_collect_errors_total`,
      help: 'Scrapes whose database-backed gauges could not be read, by source (jobs, store).',
      labelNames: ['source'],
      registers,
    });

    // Every known series is present from the start, so rate() and alerts see a 0 rather than nothing.
    for (const kind of INTEGRITY_KINDS) this.integrityFailures.inc({ kind }, 0);
    for (const source of DOWNLOAD_SOURCES) this.artifactsCompleted.inc({ source }, 0);
    for (const outcome of WEBHOOK_OUTCOMES) this.webhookDeliveries.inc({ outcome }, 0);
    for (const source of ['jobs', 'store']) this.collectErrors.inc({ source }, 0);

    this.storeUsage = cachedFor(
      options.storeCacheMs ?? 5000,
      () => options.cluster.storeUsage(),
      options.now ?? Date.now,
    );
  }

  upstreamResponse(status: number, errorCode: string | undefined): void {
    const code = errorCode === undefined ? 'none' : HUB_ERROR_CODE.test(errorCode) ? errorCode : 'other';
    this.upstreamResponses.inc({ status: String(status), error_code: code });
  }

  upstreamRetry(): void {
    this.upstreamRetries.inc();
  }

  integrityFailure(kind: IntegrityKind): void {
    this.integrityFailures.inc({ kind });
  }

  downloadCompleted({ bytes, seconds, source }: CompletedDownload): void {
    this.artifactsCompleted.inc({ source });
    // A reused blob took no transfer: it would only drag the duration and throughput histograms down.
    if (source !== 'downloaded') return;
    this.downloadedBytes.inc(bytes);
    this.downloadDuration.observe(seconds);
    if (seconds > 0) this.downloadThroughput.observe(bytes / seconds);
  }

  jobFinished(type: string, status: 'completed' | 'failed' | 'cancelled', seconds: number): void {
    this.jobsFinished.inc({ type, status });
    this.jobDuration.observe({ type }, seconds);
  }

  webhookDelivery(outcome: WebhookOutcome): void {
    this.webhookDeliveries.inc({ outcome });
  }

  /** The Prometheus text exposition, with the deployment-wide gauges read just now. */
  async render(): Promise<RenderedMetrics> {
    await Promise.all([this.refreshJobGauges(), this.refreshStoreGauges()]);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  // A gauge that could not be read is never left at its last or a zero value, which would look real.
  private async refreshJobGauges(): Promise<void> {
    let counts: readonly JobCount[];
    try {
      counts = await this.options.cluster.jobCounts();
    } catch (error) {
      this.jobs.reset();
      this.queueDepth.set(Number.NaN);
      this.collectFailed('jobs', error);
      return;
    }
    this.jobs.reset();
    for (const type of JOB_TYPES) for (const status of JOB_STATUSES) this.jobs.set({ type, status }, 0);
    let pending = 0;
    for (const { type, status, count } of counts) {
      this.jobs.set({ type, status }, count);
      if (status === 'pending') pending += count;
    }
    this.queueDepth.set(pending);
  }

  private async refreshStoreGauges(): Promise<void> {
    try {
      const usage = await this.storeUsage();
      this.storeBytes.set(usage.bytes);
      this.storeBlobs.set(usage.blobs);
    } catch (error) {
      this.storeBytes.set(Number.NaN);
      this.storeBlobs.set(Number.NaN);
      this.collectFailed('store', error);
    }
  }

  private collectFailed(source: 'jobs' | 'store', error: unknown): void {
    this.collectErrors.inc({ source });
    this.options.onCollectError?.(error);
  }
}

/** Instrumentation that records nothing: for code paths and tests that have no metrics to feed. */
export const NO_INSTRUMENTATION: HubInstrumentation = {
  upstreamResponse() {},
  upstreamRetry() {},
  integrityFailure() {},
  downloadCompleted() {},
  jobFinished() {},
  webhookDelivery() {},
};

/**
 * `read`, answered from the last result for `ttlMs`; concurrent callers share one read in flight.
 * A failed read is not kept, so the next caller tries again.
 */
function cachedFor<T>(ttlMs: number, read: () => Promise<T>, now: () => number): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    if (cached && now() - cached.at < ttlMs) return cached.value;
    const entry = { at: now(), value: read() };
    cached = entry;
    entry.value.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return entry.value;
  };
}
