import type { AnchorHTMLAttributes, ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type ApiError, messageOf } from './api.js';
import { linkClick } from './router.js';

export function Link({ href, children, ...rest }: AnchorHTMLAttributes & { href: string }) {
  return (
    <a {...rest} href={href} onClick={linkClick}>
      {children}
    </a>
  );
}

/**
 * A progress bar: native <progress>, with aria-valuenow/aria-valuemax set so assistive tech and
 * tests read the same number; no value while the total is unknown (indeterminate).
 */
export function ProgressBar({ label, percent }: { label: string; percent: number | null }) {
  if (percent === null) return <progress class="bar" aria-label={label} max={100} />;
  return (
    <progress
      class="bar"
      aria-label={label}
      max={100}
      value={percent}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
    />
  );
}

/** A status as text, coloured by what it means. */
export function Status({ value }: { value: string }) {
  return <span class={`status status-${value}`}>{value}</span>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" aria-busy="true">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const code = (error as Partial<ApiError>)?.code;
  return (
    <div class="state error" role="alert">
      <p>
        {messageOf(error)}
        {code && code !== 'NETWORK' ? <span class="muted"> ({code})</span> : null}
      </p>
      {retry ? (
        <button type="button" class="secondary" onClick={retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="state empty">{children}</div>;
}

/** A short message after an action ("Sync queued"); announced politely, gone after a while. */
export function Notice({ text, onDone }: { text: string | null; onDone: () => void }) {
  const done = useRef(onDone);
  done.current = onDone;
  useEffect(() => {
    if (text === null) return;
    const timer = setTimeout(() => done.current(), 8000);
    return () => clearTimeout(timer);
  }, [text]);
  return (
    <div class="notice" aria-live="polite">
      {text}
    </div>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (update: (data: T | undefined) => T | undefined) => void;
}

/** Loads once per `key`, and again on `reload()`; keeps the last data while reloading (no flicker). */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (failure: unknown) => {
        if (mine !== generation.current) return;
        setError(failure);
        setLoading(false);
      },
    );
  }, []);
  useEffect(() => {
    setData(undefined);
    reload();
  }, [key, reload]);
  const set = useCallback((update: (data: T | undefined) => T | undefined) => setData(update), []);
  return { data, error, loading, reload, set };
}

/** Calls `fn` at most once per `ms`, the last call winning (refetches triggered by bursts of events). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      fnRef.current();
    }, ms);
  }, [ms]);
}

export function usePageTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · Model Hub`;
  }, [title]);
}

/** A labelled filter: "all" (the empty value) or one of `options`. */
export function FilterSelect({
  id,
  label,
  value,
  options,
  onChange,
}: {
  id: string;
  label: string;
  value: string;
  options: readonly string[];
  onChange: (value: string) => void;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">all</option>
        {options.map((option) => (
          <option key={option} value={option}>
            {option}
          </option>
        ))}
      </select>
    </div>
  );
}
