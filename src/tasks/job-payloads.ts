/** Job payloads as stored in `jobs.payload` and shown by the API (snake_case, like the rest of the wire). */
export interface SyncPayload {
  model_id: string;
  repo_id: string;
}

export interface DownloadPayload {
  artifact_ids: string[];
}

export interface GcPayload {
  dry_run: boolean;
  /** Orphans younger than this are kept (ms); the configured GC_GRACE_MS when absent. */
  grace_ms?: number;
  /** Only these blobs are candidates (a purged model's); every orphan when absent. */
  only_sha256?: string[];
}

export interface SyncResult {
  commit: string;
  previous_commit: string | null;
  files: number;
  created: number;
  changed: number;
  removed: number;
  unchanged: number;
  unsafe_paths: number;
  metadata_downloaded: number;
  metadata_failed: number;
  added_paths: string[];
  changed_paths: string[];
  removed_paths: string[];
}

export interface DownloadResult {
  artifacts: number;
  downloaded: number;
  deduplicated: number;
  already_present: number;
  failed: number;
  bytes_downloaded: number;
}

export interface ImportPayload {
  /** Absolute path on the hub's machine: a Hugging Face cache (root or one models--org--name folder) or a plain folder. */
  path: string;
  /** Required for a plain folder; for a cache, only this repo's folder is imported. */
  repo_id?: string;
}

export interface ImportResult {
  files_seen: number;
  imported: number;
  already_present: number;
  rejected: number;
  skipped: number;
  bytes_imported: number;
  linked: number;
  copied: number;
  /** Rejected and skipped files with the reason (at most 100 listed). */
  problems: { path: string; outcome: 'rejected' | 'skipped'; reason: string }[];
}

export interface ScanPayload {
  deep: boolean;
  /** Limits the artifact checks to this model; orphan and temp checks run only without it. */
  model_id?: string;
  repo_id?: string;
}

export interface ScanResult {
  artifacts_checked: number;
  missing_blobs: number;
  reset_to_pending: number;
  orphan_blobs: number;
  orphan_bytes: number;
  unexpected_files: number;
  stale_temp_removed: number;
  stale_temp_bytes: number;
  stale_temp_kept_live: number;
  metadata_repaired: number;
  /** Metadata files removed with a quarantined blob they were linked to. */
  metadata_removed: number;
  blobs_hashed: number;
  bytes_hashed: number;
  corrupt_quarantined: number;
  deep_hash_mb_per_second: number | null;
}

export interface GcResult {
  dry_run: boolean;
  grace_ms: number;
  /** Blobs on disk no artifact references, recent ones included. */
  orphan_blobs: number;
  /** Orphans old enough to go (deleted, or that would be in a dry run). */
  collectable_blobs: number;
  collectable_bytes: number;
  /** The first of them (at most 100). */
  collectable_sha256: string[];
  deleted_blobs: number;
  freed_bytes: number;
  metadata_links_removed: number;
  kept_recent: number;
  /** Blobs kept because an artifact references them or a download holds their content lease. */
  kept_referenced: number;
  unexpected_files: number;
}
