import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, hub, type ModelWire, messageOf, type StorageReportWire } from '../api.js';
import {
  Empty,
  ErrorBox,
  Link,
  Loading,
  Notice,
  Status,
  useLoad,
  usePageTitle,
  useThrottled,
} from '../components.js';
import { onHubEvent, onHubResync } from '../events.js';
import { formatBytes, formatTime, shortHash } from '../format.js';
import { BASE, navigate } from '../router.js';
import { useCan } from '../session.js';

type StorageModel = StorageReportWire['models'][number];

interface ModelsData {
  models: ModelWire[];
  usage: Map<string, StorageModel>;
}

async function loadModels(): Promise<ModelsData> {
  const [models, storage] = await Promise.all([hub.models(), hub.storage()]);
  return { models: models.items, usage: new Map(storage.models.map((m) => [m.id, m])) };
}

export function ModelsPage() {
  usePageTitle('Models');
  const canWrite = useCan('write');
  const loaded = useLoad(loadModels, 'models');
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<ModelWire | null>(null);
  const refresh = useThrottled(loaded.reload, 500);
  useEffect(() => onHubResync(loaded.reload), [loaded.reload]);
  useEffect(
    () =>
      onHubEvent((event) => {
        if (event.type === 'job.progress' || event.type === 'artifact.completed') return;
        if (event.model_id !== null || event.type === 'job.completed' || event.type === 'job.failed')
          refresh();
      }),
    [refresh],
  );

  return (
    <section>
      <h1>Models</h1>
      {canWrite ? (
        <RegisterForm
          onRegistered={(text) => {
            setNotice(text);
            loaded.reload();
          }}
        />
      ) : null}
      <Notice text={notice} onDone={() => setNotice(null)} />
      {loaded.data === undefined ? (
        loaded.error ? (
          <ErrorBox error={loaded.error} retry={loaded.reload} />
        ) : (
          <Loading what="models" />
        )
      ) : loaded.data.models.length === 0 ? (
        <Empty>
          <p>
            <strong>No models yet.</strong>{' '}
            {canWrite
              ? 'Register a Hugging Face repo above: its files are listed by a sync, then downloaded on demand.'
              : 'A key with the write scope can register Hugging Face repos.'}
          </p>
        </Empty>
      ) : (
        <ModelsTable
          data={loaded.data}
          onNotice={setNotice}
          onChanged={loaded.reload}
          onDelete={setDeleting}
        />
      )}
      {deleting ? (
        <DeleteDialog
          model={deleting}
          usage={loaded.data?.usage.get(deleting.id)}
          onClose={(text) => {
            setDeleting(null);
            if (text) {
              setNotice(text);
              loaded.reload();
            }
          }}
        />
      ) : null}
    </section>
  );
}

function ModelsTable({
  data,
  onNotice,
  onChanged,
  onDelete,
}: {
  data: ModelsData;
  onNotice: (text: string) => void;
  onChanged: () => void;
  onDelete: (model: ModelWire) => void;
}) {
  const canWrite = useCan('write');
  const canAdmin = useCan('admin');
  const [busy, setBusy] = useState<string | null>(null);
  const act = async (id: string, run: () => Promise<string>) => {
    setBusy(id);
    try {
      onNotice(await run());
      onChanged();
    } catch (error) {
      onNotice(`Failed: ${messageOf(error)}`);
    } finally {
      setBusy(null);
    }
  };
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">Registered models</caption>
        <thead>
          <tr>
            <th scope="col">Repo</th>
            <th scope="col">Status</th>
            <th scope="col">Revision</th>
            <th scope="col">Commit</th>
            <th scope="col" class="num">
              Files
            </th>
            <th scope="col" class="num">
              Logical
            </th>
            <th scope="col" class="num">
              Stored
            </th>
            <th scope="col">Last sync</th>
            <th scope="col">Pinned</th>
            {canWrite ? <th scope="col">Actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {data.models.map((m) => {
            const usage = data.usage.get(m.id);
            return (
              <tr key={m.id}>
                <td>
                  <Link href={`${BASE}/models/${m.id}`}>{m.repo_id}</Link>
                  <div class="muted small">
                    {m.vendor} / {m.name}
                  </div>
                </td>
                <td>
                  <Status value={m.status} />
                  {m.error ? <div class="small error-text">{m.error}</div> : null}
                </td>
                <td>{m.revision}</td>
                <td>
                  <code title={m.commit_sha ?? undefined}>{shortHash(m.commit_sha, 10)}</code>
                </td>
                <td class="num">{usage?.files ?? 0}</td>
                <td class="num">{formatBytes(usage?.logical_bytes ?? 0)}</td>
                <td class="num" title="Bytes no other model shares: what a delete with purge frees">
                  {formatBytes(usage?.unique_bytes ?? 0)}
                </td>
                <td>{formatTime(m.last_synced_at)}</td>
                <td>{m.pinned ? 'pinned' : 'no'}</td>
                {canWrite ? (
                  <td class="actions">
                    <button
                      type="button"
                      disabled={busy === m.id}
                      onClick={() =>
                        act(
                          m.id,
                          async () => (await hub.sync(m.repo_id)).message || `Sync of ${m.repo_id} queued`,
                        )
                      }
                    >
                      Sync
                    </button>
                    <button
                      type="button"
                      class="secondary"
                      disabled={busy === m.id}
                      onClick={() =>
                        act(m.id, async () => {
                          await hub.pin(m.id, !m.pinned);
                          return `${m.repo_id} ${m.pinned ? 'unpinned' : 'pinned'}`;
                        })
                      }
                    >
                      {m.pinned ? 'Unpin' : 'Pin'}
                    </button>
                    {canAdmin ? (
                      <button
                        type="button"
                        class="danger"
                        disabled={busy === m.id}
                        onClick={() => onDelete(m)}
                      >
                        Delete
                      </button>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

interface RegisterFields {
  vendor: string;
  name: string;
  source_repo_id: string;
  revision: string;
  auto_sync: boolean;
  verify: boolean;
}

const EMPTY_FORM: RegisterFields = {
  vendor: '',
  name: '',
  source_repo_id: '',
  revision: '',
  auto_sync: false,
  verify: true,
};

function RegisterForm({ onRegistered }: { onRegistered: (text: string) => void }) {
  const [form, setForm] = useState<RegisterFields>(EMPTY_FORM);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const set = (field: keyof RegisterFields, value: string | boolean) =>
    setForm((f) => ({ ...f, [field]: value }));

  const submit = async (event: Event) => {
    event.preventDefault();
    setSubmitting(true);
    setErrors({});
    setGeneral(null);
    try {
      const model = await hub.register({
        vendor: form.vendor,
        name: form.name,
        source_repo_id: form.source_repo_id,
        ...(form.revision.trim() ? { revision: form.revision.trim() } : {}),
        auto_sync: form.auto_sync,
        ...(form.verify ? {} : { verify: false }),
      });
      setForm(EMPTY_FORM);
      onRegistered(
        `Registered ${model.repo_id}${model.sync_job_id ? ': sync started' : '; press Sync to list its files'}`,
      );
    } catch (error) {
      if (error instanceof ApiError && Object.keys(error.fields).length > 0) setErrors({ ...error.fields });
      else setGeneral(messageOf(error));
    } finally {
      setSubmitting(false);
    }
  };

  const check = (field: 'auto_sync' | 'verify', label: string) => (
    <div class="field check">
      <input
        id={`register-${field}`}
        type="checkbox"
        checked={form[field]}
        onChange={(e) => set(field, e.currentTarget.checked)}
      />
      <label for={`register-${field}`}>{label}</label>
    </div>
  );
  const text = (
    field: 'vendor' | 'name' | 'source_repo_id' | 'revision',
    label: string,
    placeholder: string,
  ) => {
    const id = `register-${field}`;
    const error = errors[field];
    return (
      <div class="field">
        <label for={id}>{label}</label>
        <input
          id={id}
          value={form[field]}
          placeholder={placeholder}
          autocomplete="off"
          spellcheck={false}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? `${id}-error` : undefined}
          onInput={(e) => set(field, e.currentTarget.value)}
        />
        {error ? (
          <p id={`${id}-error`} class="field-error">
            {error}
          </p>
        ) : null}
      </div>
    );
  };

  return (
    <form class="card form register" onSubmit={submit} aria-labelledby="register-title">
      <h2 id="register-title">Register a repo</h2>
      <div class="fields">
        {text('vendor', 'Vendor', 'Meta')}
        {text('name', 'Name', 'Llama-3-8B')}
        {text('source_repo_id', 'Repo id', 'owner/name')}
        {text('revision', 'Revision', 'main')}
        {check('auto_sync', 'Auto-sync')}
        {check('verify', 'Check upstream')}
      </div>
      {general ? (
        <p class="field-error" role="alert">
          {general}
        </p>
      ) : null}
      <button type="submit" disabled={submitting}>
        Register
      </button>
    </form>
  );
}

function DeleteDialog({
  model,
  usage,
  onClose,
}: {
  model: ModelWire;
  usage: StorageModel | undefined;
  onClose: (notice: string | null) => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [purge, setPurge] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const freed = formatBytes(usage?.unique_bytes ?? 0);
  const confirm = async () => {
    setBusy(true);
    try {
      const answer = await hub.deleteModel(model.id, purge);
      onClose(
        answer.gc_job_id
          ? `Deleted ${model.repo_id}; a gc job frees its blobs`
          : `Deleted ${model.repo_id}; its blobs stay in the store`,
      );
      if (answer.gc_job_id && location.pathname.startsWith(`${BASE}/models/`)) navigate(`${BASE}/models`);
    } catch (failure) {
      setError(messageOf(failure));
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="delete-title" onClose={() => onClose(null)}>
      <h2 id="delete-title">Delete {model.repo_id}?</h2>
      <p>
        The hub forgets this model and its {usage?.files ?? 0} stored files (
        {formatBytes(usage?.logical_bytes ?? 0)}). Clients can no longer download it from the hub.
      </p>
      <div class="field check">
        <input
          id="delete-purge"
          type="checkbox"
          checked={purge}
          onChange={(e) => setPurge(e.currentTarget.checked)}
        />
        <label for="delete-purge">Also delete its blobs (purge)</label>
      </div>
      <p class="muted">
        {purge
          ? `Purge frees ${freed}: the blobs no other model uses are collected by a gc job.`
          : `Without purge nothing is freed now; ${freed} of blobs stay until a gc collects them.`}
      </p>
      {error ? (
        <p class="field-error" role="alert">
          {error}
        </p>
      ) : null}
      <div class="dialog-actions">
        <button type="button" class="secondary" onClick={() => ref.current?.close()}>
          Keep it
        </button>
        <button type="button" class="danger" disabled={busy} onClick={confirm}>
          Delete
        </button>
      </div>
    </dialog>
  );
}
