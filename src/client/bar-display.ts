import { MultiBar, type SingleBar } from 'cli-progress';
import { terminalSafe } from './format.js';
import type { WatchState } from './job-watch.js';
import type { ProgressDisplay } from './progress-display.js';
import { describeNotice, fileBarText, overallBarText, summarizeJob } from './watch-text.js';

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
