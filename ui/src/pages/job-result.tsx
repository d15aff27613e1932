import type {
  DownloadResult,
  GcResult,
  ImportResult,
  ScanResult,
  SyncResult,
} from '../../../src/tasks/job-payloads.js';
import { formatBytes, formatDuration, shortHash } from '../format.js';

type Row = [label: string, value: string | number];

function rowsOf(type: string, result: unknown): Row[] | null {
  if (typeof result !== 'object' || result === null) return null;
  const r = result as Record<string, unknown>;
  const n = (key: string) => (typeof r[key] === 'number' ? (r[key] as number) : 0);
  switch (type) {
    case 'sync': {
      const s = r as Partial<SyncResult>;
      return [
        ['Commit', `${shortHash(s.previous_commit ?? null, 12)} → ${shortHash(s.commit ?? null, 12)}`],
        ['Files', n('files')],
        ['New', n('created')],
        ['Changed', n('changed')],
        ['Removed upstream', n('removed')],
        ['Unchanged', n('unchanged')],
        ['Metadata files fetched', n('metadata_downloaded')],
        ['Metadata fetches failed', n('metadata_failed')],
        ['Unsafe paths refused', n('unsafe_paths')],
      ];
    }
    case 'download': {
      const keys: (keyof DownloadResult)[] = [
        'artifacts',
        'downloaded',
        'deduplicated',
        'already_present',
        'failed',
      ];
      return [
        ...keys.map((k): Row => [k.replace('_', ' '), n(k)]),
        ['Bytes downloaded', formatBytes(n('bytes_downloaded'))],
      ];
    }
    case 'scan': {
      const s = r as Partial<ScanResult>;
      return [
        ['Artifacts checked', n('artifacts_checked')],
        ['Missing blobs', n('missing_blobs')],
        ['Reset to pending', n('reset_to_pending')],
        ['Orphan blobs', `${n('orphan_blobs')} (${formatBytes(n('orphan_bytes'))})`],
        ['Unexpected files', n('unexpected_files')],
        ['Stale temp files removed', `${n('stale_temp_removed')} (${formatBytes(n('stale_temp_bytes'))})`],
        ['Metadata repaired', n('metadata_repaired')],
        ['Blobs hashed', `${n('blobs_hashed')} (${formatBytes(n('bytes_hashed'))})`],
        ['Corrupt, quarantined', n('corrupt_quarantined')],
        [
          'Hash speed',
          s.deep_hash_mb_per_second == null ? '—' : `${s.deep_hash_mb_per_second.toFixed(1)} MB/s`,
        ],
      ];
    }
    case 'gc': {
      const g = r as Partial<GcResult>;
      return [
        ['Dry run', g.dry_run ? 'yes: nothing deleted' : 'no'],
        ['Grace period', formatDuration(n('grace_ms') / 1000)],
        ['Orphan blobs', n('orphan_blobs')],
        ['Collectable', `${n('collectable_blobs')} (${formatBytes(n('collectable_bytes'))})`],
        ['Deleted', `${n('deleted_blobs')} (${formatBytes(n('freed_bytes'))} freed)`],
        ['Kept, too recent', n('kept_recent')],
        ['Kept, referenced', n('kept_referenced')],
        ['Metadata links removed', n('metadata_links_removed')],
      ];
    }
    case 'import': {
      const keys: (keyof ImportResult)[] = [
        'files_seen',
        'imported',
        'already_present',
        'rejected',
        'skipped',
        'linked',
        'copied',
      ];
      return [
        ...keys.map((k): Row => [k.replace('_', ' '), n(k)]),
        ['Bytes imported', formatBytes(n('bytes_imported'))],
      ];
    }
    default:
      return null;
  }
}

/** A finished job's result, laid out for its type; anything else as JSON. */
export function JobResult({ type, result }: { type: string; result: unknown }) {
  const rows = rowsOf(type, result);
  if (rows === null) return <pre class="json">{JSON.stringify(result, null, 2)}</pre>;
  return (
    <div class="card">
      <dl class="facts">
        {rows.map(([label, value]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <details>
        <summary>Raw result</summary>
        <pre class="json">{JSON.stringify(result, null, 2)}</pre>
      </details>
    </div>
  );
}
