/** Job payloads as stored in `jobs.payload` and shown by the API (snake_case, like the rest of the wire). */
export interface SyncPayload {
  model_id: string;
  repo_id: string;
}

export interface DownloadPayload {
  artifact_ids: string[];
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
