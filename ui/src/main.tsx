import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, hub, messageOf, onUnauthorized, storeKey, type WhoamiWire } from './api.js';
import { Link } from './components.js';
import {
  closeHubStream,
  connectionState,
  onConnectionState,
  openHubStream,
  type StreamState,
} from './events.js';
import { JobPage } from './pages/JobPage.js';
import { JobsPage } from './pages/JobsPage.js';
import { ModelPage } from './pages/ModelPage.js';
import { ModelsPage } from './pages/ModelsPage.js';
import { StoragePage } from './pages/StoragePage.js';
import { WebhooksPage } from './pages/WebhooksPage.js';
import { BASE, useLocation } from './router.js';
import { SessionContext } from './session.js';
import './style.css';

const NAV = [
  { href: `${BASE}/models`, label: 'Models', match: /^\/ui(\/|\/models(\/.*)?)?$/ },
  { href: `${BASE}/jobs`, label: 'Jobs', match: /^\/ui\/jobs(\/.*)?$/ },
  { href: `${BASE}/storage`, label: 'Storage', match: /^\/ui\/storage\/?$/ },
  { href: `${BASE}/webhooks`, label: 'Webhooks', match: /^\/ui\/webhooks\/?$/ },
];

function Page({ path }: { path: string }) {
  const parts = path.replace(/\/+$/, '').split('/').slice(2).map(decodeURIComponent);
  const [section, id] = parts;
  if (section === undefined || (section === 'models' && id === undefined)) return <ModelsPage />;
  if (section === 'models' && id) return <ModelPage id={id} />;
  if (section === 'jobs' && id === undefined) return <JobsPage />;
  if (section === 'jobs' && id) return <JobPage id={id} />;
  if (section === 'storage' && id === undefined) return <StoragePage />;
  if (section === 'webhooks' && id === undefined) return <WebhooksPage />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        Nothing lives at <code>{path}</code>. <Link href={`${BASE}/models`}>Go to Models</Link>.
      </p>
    </section>
  );
}

function ConnectionStatus() {
  const [state, setState] = useState<StreamState>(connectionState());
  useEffect(() => {
    // The stream may have changed state between the first render and this subscription.
    setState(connectionState());
    return onConnectionState(setState);
  }, []);
  const text = state === 'live' ? 'Live' : state === 'reconnecting' ? 'Reconnecting…' : 'Connecting…';
  return (
    <span role="status" class={`conn conn-${state}`}>
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function ScopeBadge({ who }: { who: WhoamiWire }) {
  const how =
    who.auth === 'key'
      ? `key ${who.key_prefix ?? ''}…`
      : who.auth === 'off'
        ? 'auth off'
        : 'loopback, no key';
  return (
    <span class="scope" title={`Scope ${who.scope} (${how})`}>
      <span class="scope-name">{who.scope}</span> <span class="muted">{how}</span>
    </span>
  );
}

function KeyPrompt({ error, onKey }: { error: string | null; onKey: (key: string) => void }) {
  const [key, setKey] = useState('');
  return (
    <section class="key-prompt">
      <h1>API key needed</h1>
      <p>
        This hub checks API keys. Paste a key (<code>mh_…</code>); it is kept for this browser tab only
        (session storage). Create one on the hub machine with <code>model-hub keys create --scope read</code>.
      </p>
      <form
        class="card form"
        onSubmit={(event) => {
          event.preventDefault();
          if (key.trim()) onKey(key.trim());
        }}
      >
        <div class="field">
          <label for="api-key">API key</label>
          <input
            id="api-key"
            type="password"
            autocomplete="off"
            spellcheck={false}
            value={key}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? 'api-key-error' : undefined}
            onInput={(e) => setKey(e.currentTarget.value)}
          />
          {error ? (
            <p id="api-key-error" class="field-error">
              {error}
            </p>
          ) : null}
        </div>
        <button type="submit">Use key</button>
      </form>
    </section>
  );
}

function App() {
  const { path } = useLocation();
  const [who, setWho] = useState<WhoamiWire | null>(null);
  const [needKey, setNeedKey] = useState<string | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);

  const check = () => {
    hub.whoami().then(
      (answer) => {
        setWho(answer);
        setNeedKey(null);
        setFatal(null);
        openHubStream();
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 401) return;
        setFatal(messageOf(error));
      },
    );
  };
  useEffect(() => {
    const off = onUnauthorized((error) => {
      closeHubStream();
      setWho(null);
      setNeedKey(error.message);
    });
    check();
    return off;
  }, []);

  return (
    <SessionContext.Provider value={who}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link href={`${BASE}/models`} class="brand">
          Model Hub
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.href}>
                <Link href={item.href} aria-current={item.match.test(path) ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="top-right">
          {needKey === null ? <ConnectionStatus /> : null}
          {who ? <ScopeBadge who={who} /> : null}
        </div>
      </header>
      <main id="main">
        {needKey !== null ? (
          <KeyPrompt
            error={who === null && storeKeyTried ? needKey : null}
            onKey={(key) => {
              storeKeyTried = true;
              storeKey(key);
              check();
            }}
          />
        ) : fatal !== null ? (
          <div class="state error" role="alert">
            <p>{fatal}</p>
            <button type="button" onClick={check}>
              Try again
            </button>
          </div>
        ) : (
          // Rendered while whoami is still on its way (one round trip less before the data shows);
          // until it answers, no action that needs a scope is offered.
          <Page key={path} path={path} />
        )}
      </main>
    </SessionContext.Provider>
  );
}

/** Whether a key was typed in this page yet: the first prompt has no error to show. */
let storeKeyTried = false;

const root = document.getElementById('app');
if (root) render(<App />, root);
