import type { ModelHubClient } from './api-client.js';
import { formatDuration, jsonLine, terminalSafe } from './format.js';
import { openEventStream } from './job-events.js';
import {
  exitCodeFor,
  finishFromJob,
  isEnded,
  isFinished,
  reduceJobEvent,
  stateFromJob,
} from './job-watch.js';
import type { ProgressDisplay } from './progress-display.js';

export interface WatchJobOptions {
  client: ModelHubClient;
  jobId: string;
  display: ProgressDisplay;
  /** Every event as one JSON line, written with `out` (the `--json` output). */
  json: boolean;
  out(line: string): void;
  err(line: string): void;
  /** Give up when a dropped stream has not come back within this long (default 60 s). */
  reconnectTimeoutMs?: number;
  /**
   * A job that had ended before the watch began ends the watch from its row when the replay goes
   * quiet this long without its terminal event (a hub that keeps no events for it); default 5 s.
   */
  replayIdleMs?: number;
}

export const INTERRUPTED_EXIT_CODE = 130;

/**
 * Follows a job's event stream until its terminal event; resolves to the exit code: 0 completed,
 * 1 failed or unfollowable, 130 on Ctrl-C. API errors of the first look-up (unknown job, hub down)
 * reject, for the command's error handling.
 */
export async function watchJob(options: WatchJobOptions): Promise<number> {
  const { client, jobId, display } = options;
  const job = await client.getJob(jobId);
  let state = stateFromJob(job);
  display.update(state);
  const endedBeforeWatch = isEnded(job.status);
  const reconnectTimeoutMs = options.reconnectTimeoutMs ?? 60_000;
  const eventsUrl = client.jobEventsUrl(jobId);

  return new Promise<number>((resolve) => {
    let settled = false;
    let disconnected = false;
    let reconnectDeadline: NodeJS.Timeout | undefined;
    let replayIdle: NodeJS.Timeout | undefined;

    const settle = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(reconnectDeadline);
      clearTimeout(replayIdle);
      stream.close();
      process.off('SIGINT', interrupt);
      resolve(code);
    };
    const end = () => {
      if (settled) return;
      display.finish(state);
      if (state.status === 'failed')
        options.err(`error: ${terminalSafe(state.error ?? `job ${jobId} failed`)}`);
      if (state.status === 'cancelled') options.err(`error: job ${jobId} was cancelled`);
      settle(exitCodeFor(state));
    };
    const giveUp = (message: string) => {
      if (settled) return;
      display.stop();
      options.err(`error: ${terminalSafe(message)}`);
      settle(1);
    };
    const interrupt = () => {
      display.stop();
      options.err(`stopped watching job ${jobId}; it keeps running on the hub`);
      settle(INTERRUPTED_EXIT_CODE);
    };
    const armReplayIdle = () => {
      if (!endedBeforeWatch) return;
      clearTimeout(replayIdle);
      replayIdle = setTimeout(() => {
        state = finishFromJob(state, job);
        end();
      }, options.replayIdleMs ?? 5000);
    };

    const stream = openEventStream(
      eventsUrl,
      {
        onEvent(event) {
          if (settled) return;
          if (options.json) options.out(jsonLine(event));
          state = reduceJobEvent(state, event);
          display.update(state);
          if (isFinished(state)) end();
          else armReplayIdle();
        },
        onOpen() {
          clearTimeout(reconnectDeadline);
          reconnectDeadline = undefined;
          if (disconnected) display.note(`reconnected to ${client.displayUrl}`);
          disconnected = false;
          armReplayIdle();
        },
        onDisconnect(reason) {
          if (!disconnected) display.note(`lost the event stream (${reason}); reconnecting…`);
          disconnected = true;
          reconnectDeadline ??= setTimeout(
            () =>
              giveUp(
                `lost the connection to the model hub at ${client.displayUrl} and could not reconnect within ${formatDuration(reconnectTimeoutMs / 1000)}`,
              ),
            reconnectTimeoutMs,
          );
        },
        onFailure(error) {
          giveUp(`cannot follow job ${jobId}: GET ${eventsUrl.pathname} failed: ${error.message}`);
        },
      },
      { fetch: client.streamFetch() },
    );
    process.once('SIGINT', interrupt);
  });
}
