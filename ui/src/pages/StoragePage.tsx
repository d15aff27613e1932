import { useEffect, useState } from 'preact/hooks';
import { hub, type Job, messageOf } from '../api.js';
import {
  Empty,
  ErrorBox,
  Link,
  Loading,
  Notice,
  ProgressBar,
  Status,
  useLoad,
  usePageTitle,
  useThrottled,
} from '../components.js';
import { onHubEvent, onHubResync } from '../events.js';
import { formatBytes, formatTime, shortId } from '../format.js';
import { BASE } from '../router.js';
import { useCan } from '../session.js';
import { jobPercent } from './JobsPage.js';
import { JobResult } from './job-result.js';

/** The newest scan and gc jobs: what the buttons started, and what ran before. */
async function latestMaintenance(): Promise<Job[]> {
  const [scans, gcs] = await Promise.all([
    hub.jobs({ type: 'scan', limit: 3 }),
    hub.jobs({ type: 'gc', limit: 3 }),
  ]);
  return [...scans.items, ...gcs.items].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, 4);
}

export function StoragePage() {
  usePageTitle('Storage');
  const canAdmin = useCan('admin');
  const report = useLoad(() => hub.storage(), 'storage');
  const jobs = useLoad(latestMaintenance, 'maintenance');
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const refreshReport = useThrottled(report.reload, 1000);
  const refreshJobs = useThrottled(jobs.reload, 300);
  useEffect(
    () =>
      onHubResync(() => {
        report.reload();
        jobs.reload();
      }),
    [report.reload, jobs.reload],
  );

  useEffect(
    () =>
      onHubEvent((event) => {
        const type = String(event.data.type ?? '');
        if (event.type === 'job.progress') {
          // Live bars for the maintenance jobs shown here.
          jobs.set((list) =>
            !list?.some((j) => j.id === event.job_id)
              ? list
              : list.map((j) =>
                  j.id === event.job_id
                    ? {
                        ...j,
                        status: 'running',
                        progress: { ...j.progress, ...(event.data as Partial<Job['progress']>) },
                      }
                    : j,
                ),
          );
          return;
        }
        if (event.type.startsWith('job.') && (type === 'scan' || type === 'gc')) refreshJobs();
        if (
          event.type === 'job.completed' ||
          event.type === 'artifact.completed' ||
          event.type === 'model.synced'
        ) {
          refreshReport();
        }
        if (event.type.startsWith('job.') && event.job_id && jobs.data?.some((j) => j.id === event.job_id)) {
          refreshJobs();
        }
      }),
    [jobs.set, jobs.data, refreshJobs, refreshReport],
  );

  const start = async (what: () => Promise<{ job_id: string; message: string }>) => {
    setBusy(true);
    try {
      const accepted = await what();
      setNotice(`${accepted.message || 'Queued'} (job ${shortId(accepted.job_id)})`);
      jobs.reload();
    } catch (error) {
      setNotice(`Failed: ${messageOf(error)}`);
    } finally {
      setBusy(false);
    }
  };

  const r = report.data;
  return (
    <section>
      <h1>Storage</h1>
      {r === undefined ? (
        report.error ? (
          <ErrorBox error={report.error} retry={report.reload} />
        ) : (
          <Loading what="storage usage" />
        )
      ) : (
        <>
          <div class="cards">
            <div class="card stat">
              <h2>Stored</h2>
              <p class="big">{formatBytes(r.blob_bytes)}</p>
              <p class="muted">{r.blob_count.toLocaleString()} distinct blobs</p>
            </div>
            <div class="card stat">
              <h2>Logical</h2>
              <p class="big">{formatBytes(r.logical_bytes)}</p>
              <p class="muted">all completed files, shared content counted per file</p>
            </div>
            <div class="card stat">
              <h2>Saved by dedup</h2>
              <p class="big">{formatBytes(r.dedup_saved_bytes)}</p>
              <p class="muted">
                {r.logical_bytes > 0
                  ? `${Math.round((r.dedup_saved_bytes / r.logical_bytes) * 100)}% of logical`
                  : '—'}
              </p>
            </div>
            <div class="card stat">
              <h2>Free disk</h2>
              <p class="big">{formatBytes(r.disk.free_bytes)}</p>
              <p class="muted">of {formatBytes(r.disk.total_bytes)}</p>
            </div>
            <div class="card stat">
              <h2>Quota</h2>
              <p class="big">{r.quota_bytes === null ? 'none' : formatBytes(r.quota_bytes)}</p>
              <p class="muted">
                {r.quota_bytes === null
                  ? 'STORE_MAX_BYTES is not set'
                  : `${Math.round((r.blob_bytes / Math.max(1, r.quota_bytes)) * 100)}% used; unpinned weights are evicted above it`}
              </p>
            </div>
          </div>

          <h2>Per model</h2>
          {r.models.length === 0 ? (
            <Empty>
              <p>No models hold files yet.</p>
            </Empty>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="sr-only">Storage per model</caption>
                <thead>
                  <tr>
                    <th scope="col">Repo</th>
                    <th scope="col">Pinned</th>
                    <th scope="col" class="num">
                      Files
                    </th>
                    <th scope="col" class="num">
                      Logical
                    </th>
                    <th scope="col" class="num">
                      Unique
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {r.models.map((m) => (
                    <tr key={m.id}>
                      <td>
                        <Link href={`${BASE}/models/${m.id}`}>{m.repo_id}</Link>
                      </td>
                      <td>{m.pinned ? 'pinned' : 'no'}</td>
                      <td class="num">{m.files}</td>
                      <td class="num">{formatBytes(m.logical_bytes)}</td>
                      <td class="num" title="Blobs no other model shares: what deleting it with purge frees">
                        {formatBytes(m.unique_bytes)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}

      <h2>Maintenance</h2>
      {canAdmin ? (
        <div class="toolbar">
          <button type="button" disabled={busy} onClick={() => void start(() => hub.scan(false))}>
            Start scan
          </button>
          <button
            type="button"
            class="secondary"
            disabled={busy}
            onClick={() => void start(() => hub.scan(true))}
          >
            Deep scan
          </button>
          <button
            type="button"
            class="secondary"
            disabled={busy}
            onClick={() => void start(() => hub.gc(true))}
          >
            GC dry run
          </button>
          <span class="muted small">
            A scan reconciles the database with the disk (a deep scan re-hashes every blob); a GC dry run
            lists the orphan blobs a collection would delete.
          </span>
        </div>
      ) : (
        <p class="muted">Scans and garbage collection need an admin key.</p>
      )}
      <Notice text={notice} onDone={() => setNotice(null)} />
      {jobs.data === undefined ? (
        jobs.error ? (
          <ErrorBox error={jobs.error} retry={jobs.reload} />
        ) : (
          <Loading what="maintenance jobs" />
        )
      ) : jobs.data.length === 0 ? (
        <Empty>
          <p>No scan or gc has run yet.</p>
        </Empty>
      ) : (
        jobs.data.map((job) => (
          <article class="card job-card" key={job.id}>
            <header class="toolbar">
              <h3>
                <Link href={`${BASE}/jobs/${job.id}`}>
                  {job.type === 'gc'
                    ? (job.payload as { dry_run?: boolean } | null)?.dry_run
                      ? 'GC dry run'
                      : 'GC'
                    : (job.payload as { deep?: boolean } | null)?.deep
                      ? 'Deep scan'
                      : 'Scan'}{' '}
                  {shortId(job.id)}
                </Link>
              </h3>
              <Status value={job.status} />
              <span class="muted small">
                {formatTime(job.finished_at ?? job.started_at ?? job.created_at)}
              </span>
            </header>
            {job.status === 'running' || job.status === 'pending' ? (
              <ProgressBar label={`Job ${shortId(job.id)}`} percent={jobPercent(job)} />
            ) : null}
            {job.error ? <p class="error-text">{job.error}</p> : null}
            {job.result ? <JobResult type={job.type} result={job.result} /> : null}
          </article>
        ))
      )}
    </section>
  );
}
