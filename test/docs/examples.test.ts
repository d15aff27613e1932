import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkDocs,
  describeDrift,
  docFiles,
  fillBlocks,
  findBlocks,
  lineDiff,
  normalise,
  ROOT,
} from '../../scripts/docs-examples.js';

/**
 * The docs can be trusted: every example output in README.md and docs/*.md is what a fresh run of
 * `npm run docs:examples` prints (after masking what differs between runs), every relative link
 * resolves, the Quick start holds its two commands, and the docs speak of the product only.
 */

async function readDocs(): Promise<{ file: string; text: string }[]> {
  return Promise.all(
    (await docFiles()).map(async (file) => ({
      file,
      text: await fs.readFile(path.join(ROOT, file), 'utf8'),
    })),
  );
}

/** The text outside fenced code blocks and inline code (where `[x](y)` is not a link). */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The anchors GitHub makes for a page's headings (`## Following a job: \`watch\`` → `following-a-job-watch`). */
function headingAnchors(markdown: string): Set<string> {
  const headings = markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6} (.+)$/gm);
  return new Set(
    [...headings].map((m) =>
      (m[1] as string)
        .toLowerCase()
        .replace(/[^\p{L}\p{N}_ -]/gu, '')
        .replace(/ /g, '-'),
    ),
  );
}

describe('the normaliser', () => {
  it('masks ids, times, durations, speeds, ports, temp paths, worker ids and keys', () => {
    const run = [
      'Sync job queued: 8240a113-9076-492a-a0d3-ce5482b9e595',
      '  2026-12-01T14:22:21.449Z Downloaded a.pth: 8388731 bytes in 0.25 s (33.3 MB/s, over 6 connections)',
      'x  2026-12-01 14:22:21Z  0.3 s',
      'Gc job completed in 0.0 s: deep_hash_mb_per_second=855',
      'Small files: 3 downloaded in 0.4 s (7 files/s)',
      '"local_path": "/tmp/model-hub-docs-ohL2m6/store/blobs/sha256/abc"',
      'server on http://127.0.0.1:46027 by host-1.example:4242:0a1b2c3d, key mh_AbCdEfGh',
      'Date: Tue, 01 Dec 2026 14:22:21 GMT',
      '"bytes_per_second": 1234, "eta_seconds": 7',
      '"next_cursor": "WyIyMDI2LTEy"',
    ].join('\n');
    expect(normalise(run)).toBe(
      [
        'Sync job queued: <uuid>',
        '  <time> Downloaded a.pth: 8388731 bytes in <duration> (<speed>, over <n> connections)',
        'x  <time>  <duration>',
        'Gc job completed in <duration>: deep_hash_mb_per_second=<n>',
        'Small files: 3 downloaded in <duration> (<rate>)',
        '"local_path": "<tmp>/store/blobs/sha256/abc"',
        'server on http://127.0.0.1:<port> by <worker>, key <key>',
        'Date: <date>',
        '"bytes_per_second":<n>, "eta_seconds":<n>',
        '"next_cursor":"<cursor>"',
      ].join('\n'),
    );
  });

  it('keeps what a reader relies on: sizes, counts, hashes, statuses and order', () => {
    const text = [
      'diffusion_pytorch_model.safetensors  64.0 MiB   model      completed  df3259fae7a8',
      '{"artifacts":7,"downloaded":3,"sha256":"97b1387d10fe5baa3995c13bb0376886cbfa26441a596e95a37fe1b78077248d"}',
      'synced  Wan-AI/Wan2.1-T2V-1.3B at f0e5a6a7ad07: 7 files (7 created, 0 changed, 0 removed)',
    ].join('\n');
    expect(normalise(text)).toBe(text.replace(/ {2,}/g, '  '));
    expect(normalise('a 8.0 MiB\nb')).not.toBe(normalise('a 16.0 MiB\nb'));
    expect(normalise('status: completed')).not.toBe(normalise('status: failed'));
    expect(normalise('first\nsecond')).not.toBe(normalise('second\nfirst'));
  });

  it('drops throttled progress lines and ignores the order of files finishing together', () => {
    const one = [
      'Download job queued for 2 artifact(s): 053429aa-f8c0-40de-8c2a-0c9ff7316fe6',
      'progress 0% 0 B of 88.3 MiB, 0 of 7 files',
      'done    b.pth (8.0 MiB, downloaded)',
      'done    a.pth (16.0 MiB, downloaded)',
      'Download job completed in 0.3 s: 2 files',
    ].join('\n');
    const other = [
      'Download job queued for 2 artifact(s): 11111111-f8c0-40de-8c2a-0c9ff7316fe6',
      'done    a.pth (16.0 MiB, downloaded)',
      'progress 40% 8.0 MiB of 24.0 MiB, 1 of 2 files, 2.0 MiB/s, ETA 4 s',
      'done    b.pth (8.0 MiB, downloaded)',
      'Download job completed in 8.4 s: 2 files',
    ].join('\n');
    expect(normalise(one)).toBe(normalise(other));
    expect(normalise(one)).not.toContain('progress');
    // A file line that moved past the summary is a real difference.
    expect(normalise(one)).not.toBe(normalise(`${other}\ndone    c.pth (1 B, downloaded)`));
  });

  it('diffs lines, marking what only the docs have and what only the run has', () => {
    expect(lineDiff('a\nb\nc', 'a\nx\nc')).toBe('  a\n+ x\n- b\n  c');
  });
});

describe('the example markers', () => {
  const doc = 'text\n<!-- example: one -->\n```console\nold\n```\n<!-- /example -->\nmore\n';

  it('finds each block and rewrites only its content', () => {
    expect(findBlocks(doc)).toEqual([{ id: 'one', body: 'old\n' }]);
    expect(fillBlocks(doc, new Map([['one', '$ cmd\nnew\n']]))).toBe(
      'text\n<!-- example: one -->\n```console\n$ cmd\nnew\n```\n<!-- /example -->\nmore\n',
    );
  });

  it('refuses a marker without its block, and a block no example fills', () => {
    expect(() => findBlocks('<!-- example: lost -->\ntext\n', 'x.md')).toThrow(
      /x\.md: example marker\(s\) lost/,
    );
    expect(() => fillBlocks(doc, new Map(), 'x.md')).toThrow(/x\.md: no example named "one"/);
  });
});

describe('README.md and docs/', () => {
  it('show the outputs a fresh run of the walkthrough prints', { timeout: 90_000 }, async () => {
    const result = await checkDocs();
    expect(describeDrift(result), 'run `npm run docs:examples` and read the diff').toBe('');
  });

  it('link only to files that exist, and to headings those files have', async () => {
    const docs = await readDocs();
    const anchors = new Map(docs.map(({ file, text }) => [path.join(ROOT, file), headingAnchors(text)]));
    const broken: string[] = [];
    for (const { file, text } of docs) {
      for (const match of prose(text).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = match[1] as string;
        if (/^[a-z]+:/i.test(target)) continue;
        const [page = '', anchor] = target.split('#');
        const resolved =
          page === '' ? path.join(ROOT, file) : path.resolve(path.dirname(path.join(ROOT, file)), page);
        const inside = !path.relative(ROOT, resolved).startsWith('..');
        const exists = await fs.stat(resolved).then(
          () => true,
          () => false,
        );
        const known = anchors.get(resolved);
        if (!inside || !exists || (anchor !== undefined && known !== undefined && !known.has(anchor)))
          broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('close every code block they open', async () => {
    for (const { file, text } of await readDocs()) {
      const fences = text.split('\n').filter((line) => /^\s*```/.test(line));
      expect(fences.length % 2, `${file} has an unclosed code block`).toBe(0);
      expect(
        fences.filter((line) => /^\s*````/.test(line)),
        file,
      ).toEqual([]);
    }
  });

  it('start with a Quick start of exactly `npm ci && npm start` and `npm test`', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const section = /^## Quick start\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
    expect(section, 'README.md has a "## Quick start" section').toBeDefined();
    const commands = [...(section as string).matchAll(/^```\w*\n([\s\S]*?)^```/gm)].map((m) =>
      (m[1] as string).trim(),
    );
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
    const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings.indexOf('Quick start')).toBe(0);
  });

  it('speak of the product only: no pointer outside the repository, no history of its making', async () => {
    const found: string[] = [];
    for (const { file, text } of await readDocs()) {
      text.split('\n').forEach((line, i) => {
        const clean = line.replace(/session storage/gi, '');
        if (/\.\.\/shared|\/work\/shared|\bshared\/DESIGN\b/.test(line))
          found.push(`${file}:${i + 1}: ${line}`);
        if (/\b(issues?|sessions?|added in|introduced in|PR)\b|(^|\s)#\d+\b/i.test(clean))
          found.push(`${file}:${i + 1}: ${line}`);
      });
    }
    expect(found).toEqual([]);
  });

  it('justify every dependency in package.json in the README, and nothing else', async () => {
    const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
    const pkg = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    const table = /^### Dependencies, and why\n([\s\S]*?)(?=^#|(?![\s\S]))/m.exec(readme)?.[1] ?? '';
    const rows = table.split('\n').filter((line) => /^\| /.test(line) && !/^\| (package|-)/.test(line));
    const listed = (dev: boolean) =>
      rows
        .filter((row) => row.startsWith('| dev: ') === dev)
        .flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1] as string))
        .filter((name) => !name.startsWith('file:'))
        .sort();
    expect(listed(false)).toEqual(Object.keys(pkg.dependencies).sort());
    expect(listed(true)).toEqual(Object.keys(pkg.devDependencies).sort());
  });
});
