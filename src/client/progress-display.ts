import { MultiBar, type SingleBar } from 'cli-progress';
import { terminalSafe } from './format.js';
import type { WatchState } from './job-watch.js';
import { describeNotice, describeProgress, fileBarText, overallBarText, summarizeJob } from './watch-text.js';

/**
 * How `watch` shows a job: live bars on a terminal, plain lines anywhere else (pipes, CI logs, files).
 * Both are fed the reducer's state after every event and keep no job logic of their own.
 */
export interface ProgressDisplay {
  /** After every applied event. */
  update(state: WatchState): void;
  /** A message about the watching itself (connection lost, reconnected), not about the job. */
  note(message: string): void;
  /** The job ended: takes the bars down and prints the summary line. */
  finish(state: WatchState): void;
  /** Watching ends early (Ctrl-C, a lost hub): takes the bars down, prints nothing more. */
  stop(): void;
}

export interface LineDisplayOptions {
  /** One line of job output (stdout). */
  out(line: string): void;
  /** One line about the watching itself (stderr). */
  err(line: string): void;
  now?: () => number;
  /** At most one progress line per this many ms (default 2000). */
  progressIntervalMs?: number;
}

/** Non-TTY output: a line per finished or failed file, a throttled progress line, the summary. */
export function createLineDisplay(options: LineDisplayOptions): ProgressDisplay {
  const now = options.now ?? Date.now;
  const interval = options.progressIntervalMs ?? 2000;
  let lastProgressAt = Number.NEGATIVE_INFINITY;
  return {
    update(state) {
      for (const notice of state.notices) options.out(describeNotice(notice));
      if (state.status !== 'running' || !state.progressKnown) return;
      const at = now();
      const progress = describeProgress(state);
      if (at - lastProgressAt < interval || progress === '') return;
      lastProgressAt = at;
      options.out(`progress ${progress}`);
    },
    note(message) {
      options.err(terminalSafe(message));
    },
    finish(state) {
      options.out(summarizeJob(state));
    },
    stop() {},
  };
}

/** The bits of a TTY write stream the bars need (process.stdout on a terminal). */
export type TerminalStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** TTY output: one overall bar plus one bar per file in flight, with finished files logged above. */
export function createBarDisplay(stream: TerminalStream): ProgressDisplay {
  const columns = () => stream.columns ?? 80;
  const bars = new MultiBar({
    stream,
    format: (_options, _params, payload: { text?: string }) => payload.text ?? '',
    hideCursor: true,
    // The watch handles Ctrl-C itself; cli-progress's handler would swallow the signal.
    gracefulExit: false,
    // Bars leave the screen when the watch ends (the summary line, or Ctrl-C, follows): no stale
    // bar, and no `^C` left over one.
    clearOnComplete: true,
    // A bar whose text did not change is otherwise not rewritten; but a logged line or a removed
    // bar moves the bars below it one row, and an unchanged bar would then show another's text.
    forceRedraw: true,
    fps: 10,
  });
  let overall: SingleBar | undefined;
  const fileBars = new Map<string, SingleBar>();
  let active = true;

  const redraw = (state: WatchState) => {
    const text = overallBarText(state, columns());
    if (overall) overall.update(0, { text });
    else overall = bars.create(1, 0, { text });
    const current = new Set(state.currentFiles.map((f) => f.artifactId));
    for (const [artifactId, bar] of fileBars) {
      if (current.has(artifactId)) continue;
      bars.remove(bar);
      fileBars.delete(artifactId);
    }
    for (const file of state.currentFiles) {
      const fileText = fileBarText(file, columns());
      const bar = fileBars.get(file.artifactId);
      if (bar) bar.update(0, { text: fileText });
      else fileBars.set(file.artifactId, bars.create(1, 0, { text: fileText }));
    }
  };

  const takeDown = () => {
    if (!active) return;
    active = false;
    // Flushes lines logged since the last frame; stop() alone would drop them.
    if (bars.isActive) bars.update();
    bars.stop();
  };

  return {
    update(state) {
      if (!active) return;
      for (const notice of state.notices) bars.log(`${describeNotice(notice)}\n`);
      redraw(state);
    },
    note(message) {
      const line = terminalSafe(message);
      if (active) bars.log(`${line}\n`);
      else stream.write(`${line}\n`);
    },
    finish(state) {
      if (active) redraw(state);
      takeDown();
      stream.write(`${summarizeJob(state)}\n`);
    },
    stop: takeDown,
  };
}

/** `--json`: the events themselves are the output; only notes about the watching go to stderr. */
export function createQuietDisplay(err: (line: string) => void): ProgressDisplay {
  return { update() {}, note: (message) => err(terminalSafe(message)), finish() {}, stop() {} };
}
