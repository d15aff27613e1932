import { useEffect, useMemo, useState } from 'preact/hooks';
import type { SyncResult } from '../../../src/tasks/job-payloads.js';
import { type ArtifactWire, hub, type Job, type ModelWire, messageOf } from '../api.js';
import {
  Empty,
  ErrorBox,
  FilterSelect,
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
import { countOf, formatBytes, formatTime, percentOf, shortHash, shortId } from '../format.js';
import { BASE } from '../router.js';
import { useCan } from '../session.js';

interface ModelData {
  model: ModelWire;
  artifacts: ArtifactWire[];
}

/** Bytes done per artifact, from the live `job.progress` events of the downloads running now. */
type LiveBytes = Map<string, number>;

const TYPES = ['model', 'config', 'tokenizer', 'other'] as const;
const STATUSES = ['pending', 'downloading', 'completed', 'failed'] as const;

export function ModelPage({ id }: { id: string }) {
  const loaded = useLoad(async (): Promise<ModelData> => {
    const [model, artifacts] = await Promise.all([hub.model(id), hub.artifacts(id)]);
    return { model, artifacts: artifacts.items };
  }, id);
  usePageTitle(loaded.data?.model.repo_id ?? 'Model');
  const [live, setLive] = useState<LiveBytes>(new Map());
  const refresh = useThrottled(loaded.reload, 400);
  const lastSync = useLoad(() => latestSync(id), `${id}-sync`);
  const refreshSync = useThrottled(lastSync.reload, 500);
  useEffect(
    () =>
      onHubResync(() => {
        setLive(new Map());
        loaded.reload();
        lastSync.reload();
      }),
    [loaded.reload, lastSync.reload],
  );

  useEffect(
    () =>
      onHubEvent((event) => {
        if (event.type === 'job.progress') {
          const files = (event.data.current_files ?? []) as { artifact_id: string; bytes_done: number }[];
          if (files.length === 0) return;
          setLive((previous) => {
            let next: LiveBytes | null = null;
            for (const file of files) {
              if (previous.get(file.artifact_id) === file.bytes_done) continue;
              next ??= new Map(previous);
              next.set(file.artifact_id, file.bytes_done);
            }
            return next ?? previous;
          });
          return;
        }
        if (event.type === 'artifact.completed' || event.type === 'artifact.failed') {
          const status = event.type === 'artifact.completed' ? 'completed' : 'failed';
          loaded.set(
            (data) =>
              data && {
                ...data,
                artifacts: data.artifacts.map((a) =>
                  a.id === event.artifact_id
                    ? { ...a, download_status: status, bytes_downloaded: a.size }
                    : a,
                ),
              },
          );
          refresh();
          return;
        }
        if (event.model_id === id || event.type === 'job.completed' || event.type === 'job.failed') {
          refresh();
          if (event.type === 'model.synced' || event.model_id === id) refreshSync();
        }
      }),
    [id, refresh, refreshSync, loaded.set],
  );

  if (loaded.data === undefined) {
    return (
      <section>
        <h1>Model</h1>
        {loaded.error ? (
          <ErrorBox error={loaded.error} retry={loaded.reload} />
        ) : (
          <Loading what="the model" />
        )}
      </section>
    );
  }
  const { model, artifacts } = loaded.data;
  return (
    <section>
      <p class="crumbs">
        <Link href={`${BASE}/models`}>Models</Link> /
      </p>
      <h1>{model.repo_id}</h1>
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <Status value={model.status} />
          </dd>
        </div>
        <div>
          <dt>Vendor / name</dt>
          <dd>
            {model.vendor} / {model.name}
          </dd>
        </div>
        <div>
          <dt>Revision</dt>
          <dd>{model.revision}</dd>
        </div>
        <div>
          <dt>Commit</dt>
          <dd>
            <code title={model.commit_sha ?? undefined}>{shortHash(model.commit_sha, 12)}</code>
          </dd>
        </div>
        <div>
          <dt>Last sync</dt>
          <dd>{formatTime(model.last_synced_at)}</dd>
        </div>
        <div>
          <dt>Pinned</dt>
          <dd>{model.pinned ? 'pinned' : 'no'}</dd>
        </div>
      </dl>
      {model.error ? (
        <p class="state error" role="alert">
          {model.error}
        </p>
      ) : null}
      <LastSync job={lastSync.data ?? null} />
      <Artifacts model={model} artifacts={artifacts} live={live} onChanged={refresh} />
    </section>
  );
}

/** The newest finished sync of this model (its result says what changed), from the latest sync jobs. */
async function latestSync(modelId: string): Promise<Job | null> {
  const page = await hub.jobs({ type: 'sync', limit: 200 });
  return (
    page.items.find(
      (job) =>
        job.status === 'completed' && (job.payload as { model_id?: string } | null)?.model_id === modelId,
    ) ?? null
  );
}

function LastSync({ job }: { job: Job | null }) {
  if (job === null) return null;
  const result = job.result as Partial<SyncResult> | null;
  if (!result) return null;
  // The result lists the first paths only (at most 100); the counts are exact.
  const lists: [string, string[] | undefined, number | undefined][] = [
    ['Added', result.added_paths, result.created],
    ['Changed', result.changed_paths, result.changed],
    ['Removed upstream', result.removed_paths, result.removed],
  ];
  return (
    <details class="card last-sync">
      <summary>
        Last sync {formatTime(job.finished_at)}: {countOf(result.files ?? 0, 'file')}, {result.created ?? 0}{' '}
        new, {result.changed ?? 0} changed, {result.removed ?? 0} removed
      </summary>
      <p>
        Commit <code>{shortHash(result.previous_commit ?? null, 12)}</code> →{' '}
        <code>{shortHash(result.commit ?? null, 12)}</code>; {result.unchanged ?? 0} unchanged,{' '}
        {result.metadata_downloaded ?? 0} metadata files fetched.{' '}
        <Link href={`${BASE}/jobs/${job.id}`}>Job {shortId(job.id)}</Link>
      </p>
      {lists.map(([label, paths, count]) =>
        paths && paths.length > 0 ? (
          <div key={label}>
            <h3>
              {label}
              {count !== undefined && count > paths.length ? ` (first ${paths.length} of ${count})` : ''}
            </h3>
            <ul class="paths">
              {paths.map((p) => (
                <li key={p}>
                  <code>{p}</code>
                </li>
              ))}
            </ul>
          </div>
        ) : null,
      )}
    </details>
  );
}

function Artifacts({
  model,
  artifacts,
  live,
  onChanged,
}: {
  model: ModelWire;
  artifacts: ArtifactWire[];
  live: LiveBytes;
  onChanged: () => void;
}) {
  const canWrite = useCan('write');
  const [type, setType] = useState('');
  const [status, setStatus] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [include, setInclude] = useState('');
  const [exclude, setExclude] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const shown = useMemo(
    () =>
      artifacts.filter(
        (a) => (type === '' || a.file_type === type) && (status === '' || a.download_status === status),
      ),
    [artifacts, type, status],
  );
  const allShownSelected = shown.length > 0 && shown.every((a) => selected.has(a.id));

  const run = async (what: () => Promise<{ job_id: string; message: string }>) => {
    setBusy(true);
    try {
      const accepted = await what();
      setNotice(`${accepted.message || 'Download queued'} (job ${shortId(accepted.job_id)})`);
      setSelected(new Set());
      onChanged();
    } catch (error) {
      setNotice(`Failed: ${messageOf(error)}`);
    } finally {
      setBusy(false);
    }
  };
  const globs = (text: string) =>
    text
      .split(/[\s,]+/)
      .map((g) => g.trim())
      .filter(Boolean);
  const toggle = (id: string, on: boolean) =>
    setSelected((previous) => {
      const next = new Set(previous);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  return (
    <>
      <h2>Files</h2>
      {canWrite ? (
        <div class="toolbar">
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              run(async () => {
                const accepted = await hub.sync(model.repo_id);
                return { ...accepted, message: accepted.message || 'Sync queued' };
              })
            }
          >
            Sync
          </button>
          <button
            type="button"
            disabled={busy || selected.size === 0}
            onClick={() => run(() => hub.download({ artifact_ids: [...selected] }))}
          >
            Download selected
          </button>
          <button
            type="button"
            class="secondary"
            disabled={busy}
            onClick={() => run(() => hub.download({ repo_id: model.repo_id }))}
          >
            Download all
          </button>
          <Link href={`${BASE}/jobs`} class="muted">
            See jobs
          </Link>
        </div>
      ) : null}
      {canWrite ? (
        <form
          class="card form globs"
          onSubmit={(event) => {
            event.preventDefault();
            const inc = globs(include);
            const exc = globs(exclude);
            void run(() =>
              hub.download({
                repo_id: model.repo_id,
                ...(inc.length ? { include: inc } : {}),
                ...(exc.length ? { exclude: exc } : {}),
              }),
            );
          }}
        >
          <div class="field">
            <label for="globs-include">Include patterns</label>
            <input
              id="globs-include"
              value={include}
              placeholder="*.json, *.safetensors"
              onInput={(e) => setInclude(e.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label for="globs-exclude">Exclude patterns</label>
            <input
              id="globs-exclude"
              value={exclude}
              placeholder="original/*"
              onInput={(e) => setExclude(e.currentTarget.value)}
            />
          </div>
          <button type="submit" class="secondary" disabled={busy}>
            Download matching
          </button>
        </form>
      ) : null}
      <Notice text={notice} onDone={() => setNotice(null)} />
      <div class="filters">
        <FilterSelect id="filter-type" label="Type" value={type} options={TYPES} onChange={setType} />
        <FilterSelect
          id="filter-status"
          label="Status"
          value={status}
          options={STATUSES}
          onChange={setStatus}
        />
        <p class="muted small">
          {shown.length} of {artifacts.length} files
          {selected.size ? `, ${selected.size} selected` : ''}
        </p>
      </div>
      {artifacts.length === 0 ? (
        <Empty>
          <p>
            <strong>No files listed yet.</strong> A sync lists the repo's files at its revision
            {canWrite ? ': press Sync.' : '.'}
          </p>
        </Empty>
      ) : shown.length === 0 ? (
        <Empty>
          <p>No files match these filters.</p>
        </Empty>
      ) : (
        <div class="table-wrap">
          <table class="artifacts">
            <caption class="sr-only">Files of {model.repo_id}</caption>
            <thead>
              <tr>
                {canWrite ? (
                  <th scope="col" class="select">
                    <input
                      type="checkbox"
                      aria-label="Select all shown files"
                      checked={allShownSelected}
                      onChange={(e) => {
                        const on = e.currentTarget.checked;
                        setSelected((previous) => {
                          const next = new Set(previous);
                          for (const a of shown) {
                            if (on) next.add(a.id);
                            else next.delete(a.id);
                          }
                          return next;
                        });
                      }}
                    />
                  </th>
                ) : null}
                <th scope="col">Path</th>
                <th scope="col">Type</th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">sha256</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((a) => (
                <ArtifactRow
                  key={a.id}
                  artifact={a}
                  liveBytes={live.get(a.id)}
                  selectable={canWrite}
                  selected={selected.has(a.id)}
                  onToggle={toggle}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function ArtifactRow({
  artifact: a,
  liveBytes,
  selectable,
  selected,
  onToggle,
}: {
  artifact: ArtifactWire;
  liveBytes: number | undefined;
  selectable: boolean;
  selected: boolean;
  onToggle: (id: string, on: boolean) => void;
}) {
  const done = a.download_status === 'completed' || a.download_status === 'failed';
  const downloading = !done && (a.download_status === 'downloading' || liveBytes !== undefined);
  const bytes = Math.max(liveBytes ?? 0, a.bytes_downloaded);
  const status = downloading && a.download_status === 'pending' ? 'downloading' : a.download_status;
  return (
    <tr class={selected ? 'selected' : undefined}>
      {selectable ? (
        <td class="select">
          <input
            type="checkbox"
            aria-label={a.path}
            checked={selected}
            onChange={(e) => onToggle(a.id, e.currentTarget.checked)}
          />
        </td>
      ) : null}
      <td class="path">
        <code>{a.path}</code>
        {a.removed_upstream ? <span class="tag">removed upstream</span> : null}
        {a.error ? <div class="small error-text">{a.error}</div> : null}
      </td>
      <td>{a.file_type}</td>
      <td class="num">{formatBytes(a.size)}</td>
      <td>
        <Status value={status} />
      </td>
      <td class="progress-cell">
        {downloading ? (
          <>
            <ProgressBar label={a.path} percent={percentOf(bytes, a.size) ?? 0} />
            <span class="small muted">{formatBytes(bytes)}</span>
          </>
        ) : null}
      </td>
      <td>
        <code title={a.sha256 ?? a.upstream_sha256 ?? undefined}>{shortHash(a.sha256, 12)}</code>
      </td>
    </tr>
  );
}
