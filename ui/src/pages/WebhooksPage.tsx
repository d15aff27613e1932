import { useState } from 'preact/hooks';
import { DURABLE_EVENT_TYPES } from '../../../src/events/hub-event.js';
import { ApiError, hub, messageOf, type WebhookDeliveryWire, type WebhookWire } from '../api.js';
import { Empty, ErrorBox, Loading, Notice, Status, useLoad, usePageTitle } from '../components.js';
import { formatTime, shortId } from '../format.js';
import { useCan } from '../session.js';

export function WebhooksPage() {
  usePageTitle('Webhooks');
  const canAdmin = useCan('admin');
  if (!canAdmin) {
    return (
      <section>
        <h1>Webhooks</h1>
        <Empty>
          <p>
            <strong>Webhooks need an admin key.</strong> They send the hub's events to other services; this
            key can read models, jobs and storage only.
          </p>
        </Empty>
      </section>
    );
  }
  return <WebhooksAdmin />;
}

function WebhooksAdmin() {
  const list = useLoad(() => hub.webhooks(), 'webhooks');
  const [notice, setNotice] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);

  return (
    <section>
      <h1>Webhooks</h1>
      <AddWebhook
        onAdded={(hook) => {
          setNotice(`Webhook to ${hook.url} added`);
          list.reload();
        }}
      />
      <Notice text={notice} onDone={() => setNotice(null)} />
      {list.data === undefined ? (
        list.error ? (
          <ErrorBox error={list.error} retry={list.reload} />
        ) : (
          <Loading what="webhooks" />
        )
      ) : list.data.items.length === 0 ? (
        <Empty>
          <p>
            <strong>No webhooks yet.</strong> Add one above to have the hub POST its events (jobs finished,
            models synced…) to a URL, signed with a secret if you give one.
          </p>
        </Empty>
      ) : (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Webhooks</caption>
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Events</th>
                <th scope="col">Signed</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((hook) => (
                <WebhookRow
                  key={hook.id}
                  hook={hook}
                  open={open === hook.id}
                  onToggle={() => setOpen(open === hook.id ? null : hook.id)}
                  onDeleted={() => {
                    setNotice(`Webhook to ${hook.url} deleted`);
                    list.reload();
                  }}
                  onNotice={setNotice}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function WebhookRow({
  hook,
  open,
  onToggle,
  onDeleted,
  onNotice,
}: {
  hook: WebhookWire;
  open: boolean;
  onToggle: () => void;
  onDeleted: () => void;
  onNotice: (text: string) => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const remove = async () => {
    try {
      await hub.deleteWebhook(hook.id);
      onDeleted();
    } catch (error) {
      onNotice(`Delete failed: ${messageOf(error)}`);
    }
  };
  return (
    <>
      <tr>
        <td class="path">
          <code>{hook.url}</code>
        </td>
        <td class="small">{hook.events.join(', ')}</td>
        <td>{hook.has_secret ? 'yes' : 'no'}</td>
        <td>{formatTime(hook.created_at)}</td>
        <td class="actions">
          <button type="button" class="secondary" aria-expanded={open} onClick={onToggle}>
            Deliveries
          </button>
          {confirming ? (
            <>
              <button type="button" class="danger" onClick={() => void remove()}>
                Delete
              </button>
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                Keep it
              </button>
            </>
          ) : (
            <button type="button" class="danger" onClick={() => setConfirming(true)}>
              Delete
            </button>
          )}
        </td>
      </tr>
      {open ? (
        <tr class="nested">
          <td colSpan={5}>
            <Deliveries hook={hook} onNotice={onNotice} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function Deliveries({ hook, onNotice }: { hook: WebhookWire; onNotice: (text: string) => void }) {
  const page = useLoad(() => hub.deliveries(hook.id), hook.id);
  const [extra, setExtra] = useState<WebhookDeliveryWire[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const next = cursor === undefined ? page.data?.next_cursor : cursor;
  const redeliver = async (delivery: WebhookDeliveryWire) => {
    try {
      await hub.redeliver(hook.id, delivery.id);
      onNotice(`Delivery ${shortId(delivery.id)} queued again`);
      setExtra([]);
      setCursor(undefined);
      page.reload();
    } catch (error) {
      onNotice(`Redeliver failed: ${messageOf(error)}`);
    }
  };
  if (page.data === undefined) {
    return page.error ? <ErrorBox error={page.error} retry={page.reload} /> : <Loading what="deliveries" />;
  }
  const items = [...page.data.items, ...extra];
  if (items.length === 0)
    return <p class="muted">No deliveries yet: events matching this webhook show here.</p>;
  return (
    <div class="table-wrap">
      <table class="deliveries">
        <caption>Deliveries to {hook.url}, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Attempts
            </th>
            <th scope="col">Last answer</th>
            <th scope="col">Created</th>
            <th scope="col">Delivered / next try</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id}>
              <td>
                {d.event_type} <span class="muted small">#{d.event_id}</span>
              </td>
              <td>
                <Status value={d.status} />
              </td>
              <td class="num">{d.attempts}</td>
              <td class="small">
                {d.last_status_code ?? ''} {d.last_error ?? (d.last_status_code === null ? '—' : '')}
              </td>
              <td>{formatTime(d.created_at)}</td>
              <td>{d.delivered_at ? formatTime(d.delivered_at) : formatTime(d.next_attempt_at)}</td>
              <td>
                <button
                  type="button"
                  class="secondary"
                  disabled={d.status === 'pending'}
                  onClick={() => void redeliver(d)}
                >
                  Redeliver
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {next ? (
        <button
          type="button"
          class="secondary"
          onClick={() =>
            hub.deliveries(hook.id, next).then(
              (more) => {
                setExtra((previous) => [...previous, ...more.items]);
                setCursor(more.next_cursor);
              },
              (error: unknown) => onNotice(messageOf(error)),
            )
          }
        >
          Older deliveries
        </button>
      ) : null}
    </div>
  );
}

function AddWebhook({ onAdded }: { onAdded: (hook: WebhookWire) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<Set<string>>(new Set(['job.completed', 'job.failed']));
  const [secret, setSecret] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setGeneral(null);
    try {
      const hook = await hub.addWebhook({ url, events: [...events], ...(secret ? { secret } : {}) });
      setUrl('');
      setSecret('');
      onAdded(hook);
    } catch (error) {
      if (error instanceof ApiError && Object.keys(error.fields).length > 0) setErrors({ ...error.fields });
      else if (error instanceof ApiError && /url|target|address/i.test(error.message))
        setErrors({ url: error.message });
      else setGeneral(messageOf(error));
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (name: string) =>
    errors[name] ? (
      <p id={`webhook-${name}-error`} class="field-error">
        {errors[name]}
      </p>
    ) : null;
  return (
    <form class="card form" onSubmit={submit} aria-labelledby="webhook-title">
      <h2 id="webhook-title">Add a webhook</h2>
      <div class="fields">
        <div class="field wide">
          <label for="webhook-url">URL</label>
          <input
            id="webhook-url"
            type="url"
            value={url}
            placeholder="https://ci.example.com/model-hub"
            aria-invalid={errors.url ? true : undefined}
            aria-describedby={errors.url ? 'webhook-url-error' : undefined}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
          {fieldError('url')}
        </div>
        <div class="field">
          <label for="webhook-secret">Secret (optional)</label>
          <input
            id="webhook-secret"
            type="password"
            autocomplete="off"
            value={secret}
            placeholder="16 characters or more"
            aria-invalid={errors.secret ? true : undefined}
            aria-describedby={errors.secret ? 'webhook-secret-error' : undefined}
            onInput={(e) => setSecret(e.currentTarget.value)}
          />
          {fieldError('secret')}
        </div>
      </div>
      <fieldset class="events">
        <legend>Events</legend>
        {DURABLE_EVENT_TYPES.map((name) => (
          <label key={name} class="check">
            <input
              type="checkbox"
              checked={events.has(name)}
              onChange={(e) => {
                const on = e.currentTarget.checked;
                setEvents((previous) => {
                  const next = new Set(previous);
                  if (on) next.add(name);
                  else next.delete(name);
                  return next;
                });
              }}
            />{' '}
            {name}
          </label>
        ))}
        {fieldError('events')}
      </fieldset>
      {general ? (
        <p class="field-error" role="alert">
          {general}
        </p>
      ) : null}
      <button type="submit" disabled={busy}>
        Add webhook
      </button>
    </form>
  );
}
