import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type HubEvent, hub, type Job, type JobStatus } from '../api.js';
import {
  Empty,
  ErrorBox,
  FilterSelect,
  Link,
  Loading,
  ProgressBar,
  Status,
  usePageTitle,
} from '../components.js';
import { onHubEvent, onHubResync } from '../events.js';
import { countOf, formatBytes, formatEta, formatRate, formatTime, percentOf, shortId } from '../format.js';
import { BASE, navigate, useLocation } from '../router.js';

const PAGE_SIZE = 200;
const STATUSES: JobStatus[] = ['pending', 'running', 'completed', 'failed', 'cancelled'];
const TYPES = ['sync', 'download', 'scan', 'gc', 'import'];
const TERMINAL = new Set<string>(['completed', 'failed', 'cancelled']);

const NO_PROGRESS: Job['progress'] = {
  files_total: 0,
  files_done: 0,
  files_failed: 0,
  bytes_total: 0,
  bytes_done: 0,
  bytes_per_second: 0,
  eta_seconds: null,
  current_files: [],
};

/** Overall progress of a job in percent: by bytes when known, else by files; null when unknown. */
export function jobPercent(job: Pick<Job, 'status' | 'progress'>): number | null {
  if (job.status === 'completed') return 100;
  const p = job.progress;
  return percentOf(p.bytes_done, p.bytes_total) ?? percentOf(p.files_done + p.files_failed, p.files_total);
}

/** One line about what the job works on, from its payload. */
export function jobTarget(job: Pick<Job, 'type' | 'payload'>): string {
  const p = (job.payload ?? {}) as Record<string, unknown>;
  if (typeof p.repo_id === 'string') return `${p.repo_id}${job.type === 'scan' && p.deep ? ' (deep)' : ''}`;
  if (job.type === 'download' && Array.isArray(p.artifact_ids)) return countOf(p.artifact_ids.length, 'file');
  if (job.type === 'scan') return p.deep ? 'deep scan' : 'scan';
  if (job.type === 'gc') return p.dry_run ? 'dry run' : 'collect';
  if (typeof p.path === 'string') return p.path;
  return '';
}

/** A job changed by a live event, or null when the event says nothing the list can apply by itself. */
function applyEvent(job: Job, event: HubEvent): Job | null {
  const data = event.data as Record<string, unknown>;
  switch (event.type) {
    case 'job.progress': {
      const { status: _status, ...progress } = data;
      return {
        ...job,
        status: job.status === 'pending' ? 'running' : job.status,
        started_at: job.started_at ?? event.at,
        progress: { ...job.progress, ...(progress as Partial<Job['progress']>) },
      };
    }
    case 'job.completed':
      return { ...job, status: 'completed', finished_at: event.at, result: data.result ?? job.result };
    case 'job.failed':
      return {
        ...job,
        status: 'failed',
        finished_at: event.at,
        error: typeof data.error === 'string' ? data.error : job.error,
      };
    case 'job.cancelled':
      return { ...job, status: 'cancelled', finished_at: event.at };
    default:
      return null;
  }
}

export function JobsPage() {
  usePageTitle('Jobs');
  const { search } = useLocation();
  const status = search.get('status') ?? '';
  const type = search.get('type') ?? '';
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const generation = useRef(0);
  // The list as last rendered, for the event batches (computed outside a state updater).
  const jobsRef = useRef<Job[] | null>(null);
  jobsRef.current = jobs;

  const load = () => {
    const mine = ++generation.current;
    setError(null);
    hub.jobs({ status, type, limit: PAGE_SIZE }).then(
      (page) => {
        if (mine !== generation.current) return;
        setJobs(page.items);
        setCursor(page.next_cursor);
      },
      (failure: unknown) => mine === generation.current && setError(failure),
    );
  };
  useEffect(() => {
    setJobs(null);
    load();
  }, [status, type]);

  // Back after a drop with nothing to resume from: the list is loaded again (with the current filters).
  useEffect(() => onHubResync(load), [status, type]);

  const more = () => {
    if (!cursor) return;
    setLoadingMore(true);
    const mine = generation.current;
    hub
      .jobs({ status, type, limit: PAGE_SIZE, cursor })
      .then(
        (page) => {
          if (mine !== generation.current) return;
          setJobs((previous) => [...(previous ?? []), ...page.items]);
          setCursor(page.next_cursor);
        },
        (failure: unknown) => setError(failure),
      )
      .finally(() => setLoadingMore(false));
  };

  // Live: events are applied in batches, once per animation frame, so a burst costs one render.
  const pending = useRef<HubEvent[]>([]);
  const frame = useRef(0);
  useEffect(() => {
    const fetchJob = (id: string) =>
      hub.job(id).then(
        (fresh) => {
          const { logs: _logs, ...summary } = fresh;
          // An answer that left before a later event must not undo it (a finished job never runs again).
          const keep = (j: Job) => TERMINAL.has(j.status) && !TERMINAL.has(summary.status);
          setJobs((list) => list?.map((j) => (j.id === id && !keep(j) ? summary : j)) ?? null);
        },
        () => {},
      );
    const flush = () => {
      frame.current = 0;
      const events = pending.current;
      pending.current = [];
      const created: Job[] = [];
      const refetch = new Set<string>();
      const list = jobsRef.current;
      if (list === null) return;
      const byId = new Map(list.map((j, i) => [j.id, i]));
      const next = list.slice();
      for (const event of events) {
        const id = event.job_id;
        if (id === null) continue;
        const index = byId.get(id);
        if (event.type === 'job.created') {
          const jobType = String(event.data.type ?? '');
          if (index !== undefined || (type && jobType !== type) || (status && status !== 'pending')) continue;
          // A placeholder until the job is fetched (right after): what the event says, zeros for the rest.
          const job = {
            id,
            type: jobType as Job['type'],
            status: 'pending',
            payload: null,
            result: null,
            error: null,
            progress: NO_PROGRESS,
            attempts: 0,
            worker: null,
            created_at: event.at,
            updated_at: event.at,
            started_at: null,
            finished_at: null,
          } as Job;
          created.push(job);
          refetch.add(id);
          continue;
        }
        if (index === undefined) continue;
        const current = next[index] as Job;
        const updated = applyEvent(current, event);
        next[index] = updated ?? current;
        // The fields no event carries (worker, final progress) come with one fetch when the job starts or ends.
        const started = current.status === 'pending' && updated?.status === 'running';
        if (updated === null || started || TERMINAL.has(updated.status)) refetch.add(id);
      }
      const nextList = created.length === 0 ? next : [...created.reverse(), ...next];
      jobsRef.current = nextList;
      setJobs(nextList);
      for (const id of refetch) void fetchJob(id);
    };
    const off = onHubEvent((event) => {
      if (!event.type.startsWith('job.') || event.job_id === null) return;
      pending.current.push(event);
      frame.current ||= requestAnimationFrame(flush);
    });
    return () => {
      off();
      cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [status, type]);

  const setFilter = (name: 'status' | 'type', value: string) => {
    const params = new URLSearchParams(location.search);
    if (value) params.set(name, value);
    else params.delete(name);
    const query = params.toString();
    navigate(`${BASE}/jobs${query ? `?${query}` : ''}`, true);
  };

  return (
    <section>
      <h1>Jobs</h1>
      <div class="filters">
        <FilterSelect
          id="jobs-status"
          label="Status"
          value={status}
          options={STATUSES}
          onChange={(value) => setFilter('status', value)}
        />
        <FilterSelect
          id="jobs-type"
          label="Type"
          value={type}
          options={TYPES}
          onChange={(value) => setFilter('type', value)}
        />
        {jobs ? (
          <p class="muted small">
            {jobs.length} job{jobs.length === 1 ? '' : 's'} shown{cursor ? ', more below' : ''}
          </p>
        ) : null}
      </div>
      {error && jobs === null ? (
        <ErrorBox error={error} retry={load} />
      ) : jobs === null ? (
        <Loading what="jobs" />
      ) : jobs.length === 0 ? (
        <Empty>
          <p>
            <strong>No jobs{status || type ? ' match these filters' : ' yet'}.</strong> Syncs, downloads,
            scans and garbage collections show here as they are queued, and update live.
          </p>
        </Empty>
      ) : (
        <JobsTable jobs={jobs} />
      )}
      {error && jobs !== null ? <ErrorBox error={error} /> : null}
      {cursor ? (
        <p class="more">
          <button type="button" class="secondary" disabled={loadingMore} onClick={more}>
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </p>
      ) : null}
    </section>
  );
}

export function JobsTable({ jobs, caption = 'Jobs, newest first' }: { jobs: Job[]; caption?: string }) {
  return (
    <div class="table-wrap">
      <table class="jobs">
        <caption class="sr-only">{caption}</caption>
        {/* Fixed column widths: the browser lays out a long list without measuring every cell. */}
        <colgroup>
          <col class="c-job" />
          <col class="c-type" />
          <col class="c-status" />
          <col class="c-progress" />
          <col class="c-bytes" />
          <col class="c-speed" />
          <col class="c-eta" />
          <col class="c-time" />
          <col class="c-time" />
          <col class="c-worker" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Progress</th>
            <th scope="col" class="num">
              Bytes
            </th>
            <th scope="col" class="num">
              Speed
            </th>
            <th scope="col" class="num">
              ETA
            </th>
            <th scope="col">Started</th>
            <th scope="col">Finished</th>
            <th scope="col">Worker</th>
          </tr>
        </thead>
        <tbody>
          {jobs.map((job) => (
            <JobRow key={job.id} job={job} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A row re-renders only when its job object changes: a live update of one job repaints one row. */
class JobRow extends Component<{ job: Job }> {
  override shouldComponentUpdate(next: { job: Job }): boolean {
    return next.job !== this.props.job;
  }

  override render() {
    const { job } = this.props;
    const p = job.progress;
    const running = job.status === 'running';
    const percent = jobPercent(job);
    const target = jobTarget(job);
    return (
      <tr>
        <td>
          <Link href={`${BASE}/jobs/${job.id}`}>
            <code>{shortId(job.id)}</code>
          </Link>
          {target ? <div class="small muted target">{target}</div> : null}
        </td>
        <td>{job.type}</td>
        <td>
          <Status value={job.status} />
        </td>
        <td class="progress-cell">
          {percent === null && !running ? (
            <span class="muted">—</span>
          ) : (
            <ProgressBar label={`Job ${shortId(job.id)}`} percent={percent} />
          )}
        </td>
        <td class="num">
          {p.bytes_total > 0 ? `${formatBytes(p.bytes_done)} / ${formatBytes(p.bytes_total)}` : '—'}
        </td>
        <td class="num">{running && p.bytes_per_second > 0 ? formatRate(p.bytes_per_second) : '—'}</td>
        <td class="num">{running && p.eta_seconds !== null ? formatEta(p.eta_seconds) : '—'}</td>
        <td>{formatTime(job.started_at)}</td>
        <td>{formatTime(job.finished_at)}</td>
        <td class="small worker">{job.worker ?? '—'}</td>
      </tr>
    );
  }
}
