import {
  formatBytes,
  formatDuration,
  formatEta,
  formatRate,
  percentOf,
  renderBar,
  secondsBetween,
  shortHash,
  terminalSafe,
  truncateEnd,
  truncateStart,
} from './format.js';
import {
  downloadResultOf,
  type FileProgress,
  type SyncOutcome,
  type WatchNotice,
  type WatchState,
} from './job-watch.js';

/** The words of `watch`: every line both displays print is built here from the reducer's state. */

const SOURCE_WORDS = {
  downloaded: 'downloaded',
  deduplicated: 'reused a stored blob',
  present: 'already stored',
  imported: 'imported from a local file',
} as const;

export function describeNotice(notice: WatchNotice): string {
  switch (notice.kind) {
    case 'file-completed':
      return `done    ${terminalSafe(notice.path)} (${formatBytes(notice.sizeBytes)}, ${SOURCE_WORDS[notice.source]})`;
    case 'file-failed':
      return `failed  ${terminalSafe(notice.path)}: ${terminalSafe(notice.error)}`;
    case 'model-synced':
      return `synced  ${describeSync(notice.sync)}`;
    case 'takeover':
      return notice.to === null
        ? `worker ${terminalSafe(notice.from)} stopped renewing its lease; waiting for another worker to take the job over`
        : `taken over from worker ${terminalSafe(notice.from)} after its lease lapsed; resuming on worker ${terminalSafe(notice.to)}`;
    case 'upstream-retry':
      return terminalSafe(notice.message);
  }
}

/** `45% 5.4 MiB of 12.0 MiB, 3 of 7 files, 2.1 MiB/s, ETA 3.0 s`, leaving out what is unknown ('' if all is). */
export function describeProgress(state: WatchState): string {
  const parts: string[] = [];
  const percent = percentOf(state.bytesDone, state.bytesTotal);
  if (percent !== null) {
    parts.push(`${percent}% ${formatBytes(state.bytesDone)} of ${formatBytes(state.bytesTotal)}`);
  }
  if (state.filesTotal > 0) {
    const failed = state.filesFailed > 0 ? ` (${state.filesFailed} failed)` : '';
    parts.push(`${state.filesDone} of ${state.filesTotal} files${failed}`);
  }
  if (state.bytesPerSecond > 0) parts.push(formatRate(state.bytesPerSecond));
  if (state.etaSeconds !== null && state.etaSeconds > 0) parts.push(`ETA ${formatEta(state.etaSeconds)}`);
  return parts.join(', ');
}

/** The last line of a watch: how the job ended and what it did. */
export function summarizeJob(state: WatchState): string {
  const kind = state.jobType ? `${state.jobType[0]?.toUpperCase()}${state.jobType.slice(1)} job` : 'Job';
  const seconds = secondsBetween(state.createdAt, state.finishedAt);
  const took =
    seconds === null ? '' : ` ${state.status === 'completed' ? 'in' : 'after'} ${formatDuration(seconds)}`;
  const details = describeOutcome(state);
  return `${kind} ${state.status}${took}${details ? `: ${details}` : ''}`;
}

function describeOutcome(state: WatchState): string {
  if (state.jobType === 'sync') return state.sync ? describeSync(state.sync) : '';
  const download = downloadResultOf(state.result);
  if (state.jobType === 'download' || download) {
    const files = state.filesTotal || state.filesDone + state.filesFailed;
    const how = [
      `${state.sources.downloaded} downloaded`,
      `${state.sources.deduplicated} deduplicated`,
      `${state.sources.present} already present`,
      ...(state.filesFailed > 0 ? [`${state.filesFailed} failed`] : []),
    ].join(', ');
    const done =
      state.status === 'completed' ? `${files} files` : `${state.filesDone} of ${files} files done`;
    return `${done}, ${formatBytes(state.bytesDone)} (${how})`;
  }
  return describeFlatResult(state.result);
}

function describeSync(sync: SyncOutcome): string {
  const repo = sync.repoId ? `${terminalSafe(sync.repoId)} at ` : 'commit ';
  return `${repo}${shortHash(sync.commit)}: ${sync.files} files (${sync.created} created, ${sync.changed} changed, ${sync.removed} removed)`;
}

/** `missing=0, orphaned=2` for results of job types this CLI has no words for. */
function describeFlatResult(result: unknown): string {
  if (typeof result !== 'object' || result === null) return '';
  return Object.entries(result)
    .filter(
      ([, value]) => typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean',
    )
    .map(([key, value]) => terminalSafe(`${key}=${String(value)}`))
    .join(', ');
}

/** The label column: the job type, or `queued`; file lines leave it blank so all bars line up. */
const LABEL_WIDTH = 9;
/** What follows the bar on the overall line at typical sizes (` 79%  57.4 MiB/72.3 MiB  files 6/7  …`). */
const DETAILS_WIDTH = 58;

/** The bar fills what the overall line leaves free, 10 to 40 characters. */
export function barWidth(columns: number): number {
  return Math.max(10, Math.min(40, columns - 1 - LABEL_WIDTH - 2 - DETAILS_WIDTH));
}

/** `download  ████░░░░  45%  5.4 MiB/12.0 MiB  files 3/7  2.1 MiB/s  ETA 3 s`; `?` for what is not known yet. */
export function overallBarText(state: WatchState, columns: number): string {
  const label = state.status === 'pending' ? 'queued' : (state.jobType ?? 'job');
  const fraction = state.bytesTotal > 0 ? state.bytesDone / state.bytesTotal : 0;
  const failed = state.filesFailed > 0 ? ` (${state.filesFailed} failed)` : '';
  const percent = percentOf(state.bytesDone, state.bytesTotal);
  const details = [
    `${percent === null ? '?' : percent}%`.padStart(4),
    `${formatBytes(state.bytesDone)}/${state.bytesTotal > 0 ? formatBytes(state.bytesTotal) : '?'}`,
    `files ${state.filesDone}/${state.filesTotal > 0 ? state.filesTotal : '?'}${failed}`,
    formatRate(state.bytesPerSecond),
    `ETA ${formatEta(state.etaSeconds)}`,
  ];
  const line = `${label.padEnd(LABEL_WIDTH)} ${renderBar(fraction, barWidth(columns))} ${details.join('  ')}`;
  return truncateEnd(line, Math.max(20, columns - 1));
}

/**
 * `          ███░░░░  30%  2.4 MiB/8.0 MiB  1.9 MiB/s  text_encoder/model.safetensors`: the file's own
 * speed, and the path takes what is left.
 */
export function fileBarText(file: FileProgress, columns: number): string {
  const fraction = file.sizeBytes > 0 ? file.bytesDone / file.sizeBytes : 0;
  const percent = `${percentOf(file.bytesDone, file.sizeBytes) ?? 0}%`.padStart(4);
  const speed = file.bytesPerSecond === null ? '' : `${formatRate(file.bytesPerSecond)}  `;
  const head = `${' '.repeat(LABEL_WIDTH)} ${renderBar(fraction, barWidth(columns))} ${percent}  ${formatBytes(file.bytesDone)}/${formatBytes(file.sizeBytes)}  ${speed}`;
  return `${head}${truncateStart(terminalSafe(file.path), Math.max(12, columns - 1 - head.length))}`;
}
