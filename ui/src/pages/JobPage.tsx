import { useEffect, useRef, useState } from 'preact/hooks';
import { hub, type Job, messageOf } from '../api.js';
import {
  ErrorBox,
  Link,
  Loading,
  Notice,
  ProgressBar,
  Status,
  usePageTitle,
  useThrottled,
} from '../components.js';
import { EventStream } from '../events.js';
import {
  formatBytes,
  formatDuration,
  formatEta,
  formatRate,
  formatTime,
  percentOf,
  secondsBetween,
  shortId,
} from '../format.js';
import { BASE, navigate } from '../router.js';
import { useCan } from '../session.js';
import { jobPercent, jobTarget } from './JobsPage.js';
import { JobResult } from './job-result.js';

const TERMINAL = new Set<string>(['completed', 'failed', 'cancelled']);

interface Logs {
  lines: string[];
  dropped: number;
}

/**
 * Reads a job's log a page at a time and then follows its end: the API's cursor is null on the last
 * page, so the follower re-reads that page (from the cursor that reached it) and keeps what is new.
 */
function useJobLogs(id: string): { logs: Logs | null; error: unknown; more: () => void } {
  const [logs, setLogs] = useState<Logs | null>(null);
  const [error, setError] = useState<unknown>(null);
  const state = useRef<{ base: string | undefined; kept: string[]; onLastPage: number; running: boolean }>({
    base: undefined,
    kept: [],
    onLastPage: 0,
    running: false,
  });
  const again = useRef(false);

  const more = async () => {
    const s = state.current;
    if (s.running) {
      again.current = true;
      return;
    }
    s.running = true;
    try {
      for (;;) {
        const page = await hub.jobLogs(id, s.base);
        if (
          page.dropped_lines > 0 &&
          s.base === undefined &&
          s.kept.length > 0 &&
          page.items.length < s.onLastPage
        ) {
          // Lines were dropped in the middle since the last read: start over.
          s.kept = [];
          s.onLastPage = 0;
        }
        const fresh = page.items.slice(s.onLastPage);
        s.kept = s.kept.concat(fresh);
        if (page.next_cursor) {
          s.base = page.next_cursor;
          s.onLastPage = 0;
        } else {
          s.onLastPage = page.items.length;
        }
        setLogs({ lines: s.kept, dropped: page.dropped_lines });
        setError(null);
        if (!page.next_cursor) break;
      }
    } catch (failure) {
      setError(failure);
    } finally {
      s.running = false;
    }
    if (again.current) {
      again.current = false;
      await more();
    }
  };
  useEffect(() => {
    void more();
  }, [id]);
  return { logs, error, more: () => void more() };
}

export function JobPage({ id }: { id: string }) {
  const title = `Job ${shortId(id)}`;
  usePageTitle(title);
  const canWrite = useCan('write');
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { logs, error: logsError, more: moreLogs } = useJobLogs(id);
  const followLogs = useThrottled(moreLogs, 1000);

  const load = () =>
    hub.job(id).then(
      (answer) => {
        const { logs: _logs, ...summary } = answer;
        setJob(summary);
        setError(null);
      },
      (failure: unknown) => setError(failure),
    );
  const reload = useThrottled(() => void load(), 300);

  useEffect(() => {
    void load();
    // The job's own stream: every stored event of the job from its first, then live progress.
    const stream = new EventStream(`/v1/hub/jobs/${encodeURIComponent(id)}/events`);
    const off = stream.subscribe((event) => {
      if (event.type === 'job.progress') {
        const { status: _status, ...progress } = event.data as Record<string, unknown>;
        setJob(
          (current) =>
            current && {
              ...current,
              status: TERMINAL.has(current.status) ? current.status : 'running',
              progress: { ...current.progress, ...(progress as Partial<Job['progress']>) },
            },
        );
      } else {
        reload();
      }
      followLogs();
    });
    const offResync = stream.onResync(() => {
      reload();
      followLogs();
    });
    return () => {
      off();
      offResync();
      stream.close();
    };
  }, [id, reload, followLogs]);

  const act = async (what: 'cancel' | 'retry') => {
    setBusy(true);
    try {
      if (what === 'cancel') {
        const answer = await hub.cancelJob(id);
        setJob(answer);
        setNotice(
          `Job ${shortId(id)} ${answer.status === 'cancelled' ? 'cancelled' : `is ${answer.status}`}`,
        );
        followLogs();
      } else {
        const accepted = await hub.retryJob(id);
        navigate(`${BASE}/jobs/${accepted.job_id}`);
      }
    } catch (failure) {
      setNotice(`${what === 'cancel' ? 'Cancel' : 'Retry'} failed: ${messageOf(failure)}`);
    } finally {
      setBusy(false);
    }
  };

  if (job === null) {
    return (
      <section>
        <p class="crumbs">
          <Link href={`${BASE}/jobs`}>Jobs</Link> /
        </p>
        <h1>{title}</h1>
        {error ? <ErrorBox error={error} retry={() => void load()} /> : <Loading what="the job" />}
      </section>
    );
  }

  const p = job.progress;
  const percent = jobPercent(job);
  const running = job.status === 'running';
  const elapsed = secondsBetween(
    job.started_at,
    job.finished_at ?? (running ? new Date().toISOString() : null),
  );
  const model = (job.payload as { model_id?: string } | null)?.model_id;
  const retryOf = (job as { retry_of?: string | null }).retry_of;
  return (
    <section>
      <p class="crumbs">
        <Link href={`${BASE}/jobs`}>Jobs</Link> /
      </p>
      <h1>{title}</h1>
      <div class="toolbar">
        <Status value={job.status} />
        <span class="muted">
          {job.type}
          {jobTarget(job) ? ` · ${jobTarget(job)}` : ''}
        </span>
        {model ? <Link href={`${BASE}/models/${model}`}>Model</Link> : null}
        {retryOf ? <Link href={`${BASE}/jobs/${retryOf}`}>Retry of job {shortId(retryOf)}</Link> : null}
        <span class="spacer" />
        {canWrite && (job.status === 'failed' || job.status === 'cancelled') ? (
          <button type="button" disabled={busy} onClick={() => void act('retry')}>
            Retry
          </button>
        ) : null}
        {canWrite && (job.status === 'pending' || job.status === 'running') ? (
          <button type="button" class="danger" disabled={busy} onClick={() => void act('cancel')}>
            Cancel
          </button>
        ) : null}
      </div>
      <Notice text={notice} onDone={() => setNotice(null)} />
      {job.error ? (
        <div class="state error" role="alert">
          <p>{job.error}</p>
        </div>
      ) : null}

      <div class="card">
        <div class="overall">
          <ProgressBar label={title} percent={percent} />
          <span>{percent === null ? '' : `${percent}%`}</span>
        </div>
        <dl class="facts">
          <div>
            <dt>Files</dt>
            <dd>
              {p.files_done} / {p.files_total}
              {p.files_failed ? ` (${p.files_failed} failed)` : ''}
            </dd>
          </div>
          <div>
            <dt>Bytes</dt>
            <dd>
              {formatBytes(p.bytes_done)} / {formatBytes(p.bytes_total)}
            </dd>
          </div>
          <div>
            <dt>Speed</dt>
            <dd>{running && p.bytes_per_second > 0 ? formatRate(p.bytes_per_second) : '—'}</dd>
          </div>
          <div>
            <dt>ETA</dt>
            <dd>{running && p.eta_seconds !== null ? formatEta(p.eta_seconds) : '—'}</dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{formatTime(job.created_at)}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>{formatTime(job.started_at)}</dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>{formatTime(job.finished_at)}</dd>
          </div>
          <div>
            <dt>Duration</dt>
            <dd>{elapsed === null ? '—' : formatDuration(elapsed)}</dd>
          </div>
          <div>
            <dt>Attempts</dt>
            <dd>{job.attempts}</dd>
          </div>
          <div>
            <dt>Worker</dt>
            <dd class="worker">{job.worker ?? '—'}</dd>
          </div>
        </dl>
      </div>

      {running && p.current_files.length > 0 ? (
        <>
          <h2>Files in progress</h2>
          <ul class="files">
            {p.current_files.map((file) => (
              <li key={file.artifact_id}>
                <code>{file.path}</code>
                <ProgressBar label={file.path} percent={percentOf(file.bytes_done, file.size) ?? 0} />
                <span class="small muted">
                  {formatBytes(file.bytes_done)} / {formatBytes(file.size)}
                </span>
              </li>
            ))}
          </ul>
        </>
      ) : null}

      {job.result !== null && job.result !== undefined ? (
        <>
          <h2>Result</h2>
          <JobResult type={job.type} result={job.result} />
        </>
      ) : null}

      <h2>Logs</h2>
      {logsError ? <ErrorBox error={logsError} retry={moreLogs} /> : null}
      {logs === null ? (
        logsError ? null : (
          <Loading what="logs" />
        )
      ) : logs.lines.length === 0 ? (
        <p class="muted">No log lines yet.</p>
      ) : (
        <>
          {logs.dropped > 0 ? (
            <p class="muted small">
              The job keeps its first and last lines: {logs.dropped.toLocaleString()} lines in between were
              dropped.
            </p>
          ) : null}
          <pre class="logs">{logs.lines.join('\n')}</pre>
        </>
      )}
    </section>
  );
}
