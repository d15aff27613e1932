import { terminalSafe } from './format.js';
import type { WatchState } from './job-watch.js';
import { describeNotice, describeProgress, summarizeJob } from './watch-text.js';

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

/** `--json`: the events themselves are the output; only notes about the watching go to stderr. */
export function createQuietDisplay(err: (line: string) => void): ProgressDisplay {
  return { update() {}, note: (message) => err(terminalSafe(message)), finish() {}, stop() {} };
}
