import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileWriter } from '../../src/store/file-writer.js';

const MiB = 1024 * 1024;
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'file-writer-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('FileWriter', () => {
  it('lands writes at their offsets, out of order', async () => {
    const file = path.join(dir, 'offsets');
    const writer = await FileWriter.open(file, { keep: false });
    await writer.writeAt([Buffer.from('world')], 6);
    await writer.writeAt([Buffer.from('hello'), Buffer.from(' ')], 0);
    await writer.finish();
    expect(await fs.readFile(file, 'utf8')).toBe('hello world');
  });

  it('checkpoints what was written before it while writes keep coming', async () => {
    const writer = await FileWriter.open(path.join(dir, 'busy'), { keep: false });
    const block = Buffer.alloc(MiB, 7);
    let written = 0;
    for (; written < 4 * MiB; written += MiB) await writer.writeAt([block], written);
    let checkpointed = false;
    const checkpoint = writer.checkpoint().then(() => {
      checkpointed = true;
    });
    // Writes in flight without a pause, as parallel connections keep them: a checkpoint that waited
    // for none to be left would wait for this loop to give up.
    const limit = 1024 * MiB;
    while (!checkpointed && written < limit) {
      await writer.writeAt([block], written);
      written += MiB;
    }
    await checkpoint;
    expect(written).toBeLessThan(limit);
    await writer.abort();
  });
});
