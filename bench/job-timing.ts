import type { TestApp } from '../test/support/test-app.js';

/**
 * How often a bench looks at the job it times: as a client in another process would. Looking 50 times
 * a second (the tests' pace) runs a request through the very event loop being measured: with another
 * CPU-bound process on the machine, downloads measured ~9 % slower that way.
 */
const POLL_MS = 250;

interface FinishedJob {
  status: 'completed' | 'failed';
  error: string | null;
  finished_at: string;
}

/**
 * Waits for the job and returns it with the seconds from `startedAtMs` (`Date.now()` taken before the
 * request that queued it) to the job's own `finished_at`, so the pace of looking adds nothing.
 */
export async function timeJob(
  t: TestApp,
  jobId: string,
  startedAtMs: number,
  timeoutMs: number,
): Promise<{ job: FinishedJob; seconds: number }> {
  const job: FinishedJob = await t.waitForJob(jobId, timeoutMs, POLL_MS);
  return { job, seconds: (Date.parse(job.finished_at) - startedAtMs) / 1000 };
}
