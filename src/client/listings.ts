import {
  formatBytes,
  formatDuration,
  formatTimestamp,
  percentOf,
  renderTable,
  secondsBetween,
  shortHash,
  terminalSafe,
  truncateEnd,
} from './format.js';
import type { ArtifactWire, JobPage, JobSummaryWire, JobWire, ModelWire } from './wire.js';

/** Human text for what the list and show commands print: one function per API object. */

export function modelsTable(models: readonly ModelWire[]): string {
  if (models.length === 0) return 'No models registered yet; add one with: model-hub register <owner/name>';
  const table = renderTable(
    ['REPO', 'REVISION', 'STATUS', 'COMMIT', 'LAST SYNCED'],
    models.map((m) => [
      m.repo_id,
      m.revision,
      m.status,
      shortHash(m.commit_sha),
      formatTimestamp(m.last_synced_at),
    ]),
  );
  // A model in `error` says why under the table, so the reason is one command away.
  const reasons = models
    .filter((m) => m.status === 'error' && m.error)
    .map((m) => terminalSafe(`${m.repo_id}: ${m.error}`));
  return reasons.length === 0 ? table : [table, '', 'Errors:', ...reasons.map((r) => `  ${r}`)].join('\n');
}

export function artifactsTable(repoId: string, artifacts: readonly ArtifactWire[]): string {
  if (artifacts.length === 0) {
    return terminalSafe(`${repoId} has no artifacts yet; run: model-hub sync ${repoId}`);
  }
  const table = renderTable(
    ['PATH', 'SIZE', 'TYPE', 'STATUS', 'SHA256'],
    artifacts.map((a) => [
      a.removed_upstream ? `${a.path} (removed upstream)` : a.path,
      formatBytes(a.size),
      a.file_type,
      a.download_status,
      shortHash(a.sha256 ?? a.upstream_sha256),
    ]),
  );
  const totalBytes = artifacts.reduce((sum, a) => sum + a.size, 0);
  const completed = artifacts.filter((a) => a.download_status === 'completed').length;
  return `${table}\n\n${artifacts.length} files, ${formatBytes(totalBytes)}; ${completed} downloaded`;
}

export function jobsTable(page: JobPage): string {
  if (page.items.length === 0) return 'No jobs';
  const table = renderTable(
    ['ID', 'TYPE', 'STATUS', 'CREATED', 'TOOK', 'ERROR'],
    page.items.map((j) => [
      j.id,
      j.type,
      j.status,
      formatTimestamp(j.created_at),
      took(j),
      j.error === null ? '' : truncateEnd(j.error, 60),
    ]),
  );
  return page.next_cursor ? `${table}\n(more jobs: raise --limit)` : table;
}

/** One job: its fields, progress, result and timestamped logs. */
export function jobDetails(job: JobWire): string {
  const rows: [string, string][] = [
    ['Job', job.id],
    ['Type', job.type],
    ['Status', job.status],
    ['Created', formatTimestamp(job.created_at)],
    ['Started', formatTimestamp(job.started_at)],
    ['Finished', job.finished_at ? `${formatTimestamp(job.finished_at)} (took ${took(job)})` : '-'],
    ['Attempts', String(job.attempts)],
  ];
  if (job.worker) rows.push(['Worker', job.worker]);
  if (job.retry_of) rows.push(['Retry of', job.retry_of]);
  if (job.cancel_requested_at && job.status === 'running')
    rows.push([
      'Cancel',
      `requested at ${formatTimestamp(job.cancel_requested_at)}; waiting for its worker to stop`,
    ]);
  if (job.progress) {
    const p = job.progress;
    const percent = percentOf(p.bytes_done, p.bytes_total);
    const bytes = p.bytes_total > 0 ? `, ${formatBytes(p.bytes_done)} of ${formatBytes(p.bytes_total)}` : '';
    const failed = p.files_failed > 0 ? `, ${p.files_failed} failed` : '';
    rows.push([
      'Progress',
      `${percent === null ? '' : `${percent}%, `}${p.files_done} of ${p.files_total} files${failed}${bytes}`,
    ]);
  }
  if (job.error) rows.push(['Error', job.error]);
  const result = describeResult(job.result);
  if (result) rows.push(['Result', result]);
  const width = Math.max(...rows.map(([key]) => key.length)) + 2;
  const lines = rows.map(([key, value]) => `${key.padEnd(width)}${terminalSafe(value)}`);
  const logs = job.logs.map((line) => `  ${terminalSafe(line)}`);
  lines.push('Logs', ...(logs.length > 0 ? logs : ['  (none)']));
  return lines.join('\n');
}

function took(job: JobSummaryWire): string {
  const seconds = secondsBetween(job.started_at ?? job.created_at, job.finished_at);
  return seconds === null ? '' : formatDuration(seconds);
}

/** `files=7, created=7, added_paths=7 items`: a result object on one line, long lists counted. */
export function describeResult(result: unknown): string {
  if (result === null || result === undefined) return '';
  if (typeof result !== 'object' || Array.isArray(result)) return describeValue(result);
  return Object.entries(result)
    .map(([key, value]) => `${key}=${describeValue(value)}`)
    .join(', ');
}

function describeValue(value: unknown): string {
  if (Array.isArray(value)) {
    return value.length <= 3 ? `[${value.map(describeValue).join(', ')}]` : `${value.length} items`;
  }
  if (typeof value === 'object' && value !== null) return truncateEnd(JSON.stringify(value), 80);
  return String(value);
}
