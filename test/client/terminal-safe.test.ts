import { describe, expect, it } from 'vitest';
import { jsonLine, renderTable, terminalSafe } from '../../src/client/format.js';
import { initialWatchState, reduceJobEvent, type WatchState } from '../../src/client/job-watch.js';
import { artifactsTable, jobDetails, jobsTable } from '../../src/client/listings.js';
import { createLineDisplay, createQuietDisplay } from '../../src/client/progress-display.js';
import { describeNotice, fileBarText, summarizeJob } from '../../src/client/watch-text.js';
import type { ArtifactWire, JobWire } from '../../src/client/wire.js';
import { describeExport } from '../../src/export-command.js';
import { artifactFailed, JOB_ID, jobCompleted, jobCreated, modelSynced, resetIds } from './event-fixtures.js';

/** A name with every kind of terminal control: C0, ESC sequence, C1 CSI, DEL, bidi override and isolate. */
const HOSTILE = 'a\u0001b\u001b]0;pwned\u0007c\u009b31m\u007fd\u202eexe.json\u2066e';
const ESCAPED = 'a\\x01b\\x1b]0;pwned\\x07c\\x9b31m\\x7fd\\u202eexe.json\\u2066e';
const RAW_CONTROL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('terminalSafe', () => {
  it('replaces C0, C1, DEL and bidi controls with visible escapes, keeping other text', () => {
    expect(terminalSafe(HOSTILE)).toBe(ESCAPED);
    expect(terminalSafe('line\nbreak\ttab\rreturn')).toBe('line\\x0abreak\\x09tab\\x0dreturn');
    expect(terminalSafe('\u061c\u200e\u200f\u2028\u2029')).toBe('\\u061c\\u200e\\u200f\\u2028\\u2029');
    expect(terminalSafe('日本語/モデル ✓ café')).toBe('日本語/モデル ✓ café');
  });

  it('is idempotent, so printing an already safe string twice changes nothing', () => {
    expect(terminalSafe(terminalSafe(HOSTILE))).toBe(ESCAPED);
  });

  it('leaves no character a terminal acts on, whatever the input', () => {
    let all = '';
    for (let code = 0; code < 0x3000; code++) all += String.fromCharCode(code);
    expect(terminalSafe(all)).not.toMatch(RAW_CONTROL);
  });
});

describe('jsonLine', () => {
  it('escapes C1 and bidi characters too, and parses back to the same value', () => {
    const value = { path: HOSTILE, n: 1 };
    const line = jsonLine(value);
    expect(line).not.toMatch(RAW_CONTROL);
    expect(line).toContain('\\u009b31m');
    expect(line).toContain('\\u202eexe');
    expect(JSON.parse(line)).toEqual(value);
  });
});

const artifact = (path: string, status: ArtifactWire['download_status']): ArtifactWire => ({
  id: 'a1',
  model_id: 'm1',
  path,
  size: 3,
  file_type: 'config',
  download_status: status,
  sha256: null,
  upstream_sha256: null,
  upstream_oid: null,
  commit_sha: null,
  local_path: null,
  bytes_downloaded: 0,
  error: null,
  removed_upstream: false,
  created_at: '2025-01-02T10:03:04.000Z',
  updated_at: '2025-01-02T10:03:04.000Z',
});

const job: JobWire = {
  id: JOB_ID,
  type: 'sync',
  status: 'failed',
  payload: {},
  result: { unsafe: HOSTILE },
  logs: [`2025-01-02T10:03:04.000Z Refused ${HOSTILE}`],
  error: `bad name ${HOSTILE}`,
  attempts: 1,
  worker: null,
  progress: null,
  created_at: '2025-01-02T10:03:04.000Z',
  started_at: null,
  updated_at: '2025-01-02T10:03:04.000Z',
  finished_at: null,
} as unknown as JobWire;

describe('printers', () => {
  it('tables escape every cell and still line up', () => {
    const table = renderTable(
      ['NAME', 'X'],
      [
        [HOSTILE, '1'],
        ['plain', '2'],
      ],
    ).split('\n');
    expect(table[1]).toBe(`${ESCAPED}  1`);
    expect(table[2]).toBe(`plain${' '.repeat(ESCAPED.length - 'plain'.length)}  2`);

    const artifacts = artifactsTable('org/repo', [artifact(HOSTILE, 'failed')]);
    expect(artifacts).not.toMatch(RAW_CONTROL);
    expect(artifacts.split('\n')[1]).toMatch(
      new RegExp(`^${escapeRegExp(ESCAPED)}\\s+3 B\\s+config\\s+failed`),
    );
  });

  it('job listings and details escape errors, results and log lines', () => {
    const listed = jobsTable({ items: [job], next_cursor: null });
    const details = jobDetails(job);
    for (const text of [listed, details]) expect(text).not.toMatch(RAW_CONTROL);
    expect(details).toContain(`Error     bad name ${ESCAPED}`);
    expect(details).toContain(`  2025-01-02T10:03:04.000Z Refused ${ESCAPED}`);
    expect(details).toContain(`Result    unsafe=${ESCAPED}`);
  });

  it('watch lines, bars and summaries escape paths, errors and repo ids', () => {
    resetIds();
    let state: WatchState = initialWatchState(JOB_ID);
    state = reduceJobEvent(state, jobCreated('sync'));
    state = reduceJobEvent(state, artifactFailed(1, 'a1', HOSTILE, `boom ${HOSTILE}`));
    const failedNotice = state.notices[0];
    if (!failedNotice) throw new Error('expected a notice');
    expect(describeNotice(failedNotice)).toBe(`failed  ${ESCAPED}: boom ${ESCAPED}`);
    state = reduceJobEvent(state, modelSynced(2, `org/${HOSTILE}`, 'c'.repeat(40), 1));
    const synced = state.notices[0];
    if (!synced) throw new Error('expected a notice');
    expect(describeNotice(synced)).toContain(`org/${ESCAPED} at cccccccccccc`);
    state = reduceJobEvent(state, jobCompleted(3, { files: 1 }));
    expect(summarizeJob(state)).not.toMatch(RAW_CONTROL);
    expect(
      fileBarText({ artifactId: 'a1', path: HOSTILE, sizeBytes: 10, bytesDone: 5, bytesPerSecond: 1 }, 200),
    ).toContain(ESCAPED);
  });

  it('notes about the watching are escaped in every display', () => {
    const lines: string[] = [];
    createLineDisplay({ out: (l) => lines.push(l), err: (l) => lines.push(l) }).note(`lost (${HOSTILE})`);
    createQuietDisplay((l) => lines.push(l)).note(`lost (${HOSTILE})`);
    expect(lines).toEqual([`lost (${ESCAPED})`, `lost (${ESCAPED})`]);
  });

  it('export output escapes the repo id, paths and missing files', () => {
    const lines = describeExport(
      {
        repoId: 'org/repo',
        commit: 'c'.repeat(40),
        layout: 'flat',
        root: `/tmp/${HOSTILE}`,
        files: 1,
        bytes: 3,
        linked: 1,
        copied: 0,
        present: 0,
        missing: [HOSTILE],
      },
      `/tmp/${HOSTILE}`,
    );
    for (const line of lines) expect(line).not.toMatch(RAW_CONTROL);
    expect(lines[1]).toBe(`Left out 1 file(s) that are not downloaded: ${ESCAPED}`);
    expect(lines[2]).toBe(`Load it from the folder: /tmp/${ESCAPED}`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
