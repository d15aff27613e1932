import type { FakeFileSpec, FakeHub } from './fake-hub.js';

const MiB = 1024 * 1024;

export const WAN_REPO = 'Wan-AI/Wan2.1-T2V-1.3B';
export const WAN_COPY_REPO = 'demo/copy-of-wan';

const wanConfig = `${JSON.stringify(
  {
    _class_name: 'WanModel',
    dim: 1536,
    eps: 1e-6,
    ffn_dim: 8960,
    freq_dim: 256,
    in_dim: 16,
    model_type: 't2v',
    num_heads: 12,
    num_layers: 30,
    out_dim: 16,
    text_len: 512,
  },
  null,
  2,
)}\n`;

const wanReadme = `---
license: apache-2.0
pipeline_tag: text-to-video
---
# Wan2.1 T2V 1.3B (fake-hub demo)

Generated content served by the Model Hub fake Hugging Face Hub. The bytes are not a real model.
`;

const tokenizer = `${JSON.stringify({
  version: '1.0',
  model: {
    type: 'Unigram',
    unk_id: 2,
    vocab: [
      ['<pad>', 0],
      ['</s>', 0],
      ['<unk>', 0],
    ],
  },
})}\n`;

/** The demo Wan file list; `bigSizeBytes` sizes the main safetensors file. */
export function wanFiles(bigSizeBytes: number): FakeFileSpec[] {
  return [
    { path: 'config.json', content: wanConfig },
    { path: 'README.md', content: wanReadme },
    { path: 'Wan2.1_VAE.pth', content: { size: 8 * MiB + 123, seed: 'wan-vae' } },
    { path: 'diffusion_pytorch_model.safetensors', content: { size: bigSizeBytes, seed: 'wan-dit' } },
    { path: 'google/umt5-xxl/tokenizer.json', content: tokenizer },
    // HF's default .gitattributes tracks *.model with LFS, whatever the size.
    {
      path: 'google/umt5-xxl/spiece.model',
      content: { size: 256 * 1024 + 7, seed: 'wan-spiece' },
      lfs: true,
    },
    { path: 'models_t5_umt5-xxl-enc-bf16.pth', content: { size: 16 * MiB, seed: 'wan-t5' } },
  ];
}

/** Adds Wan2.1 plus `demo/copy-of-wan`, whose VAE is byte-identical to Wan's (to show dedup). */
export async function addDemoRepos(
  hub: FakeHub,
  { bigSizeBytes = 64 * MiB }: { bigSizeBytes?: number } = {},
): Promise<{ wan: { repo: string; commit: string }; copy: { repo: string; commit: string } }> {
  const wan = await hub.addRepo({ id: WAN_REPO, files: wanFiles(bigSizeBytes) });
  const copy = await hub.addRepo({
    id: WAN_COPY_REPO,
    files: [
      { path: 'README.md', content: '# A copy of the Wan VAE\n' },
      { path: 'vae/Wan2.1_VAE.pth', content: { size: 8 * MiB + 123, seed: 'wan-vae' } },
    ],
  });
  return { wan: { repo: WAN_REPO, commit: wan.commit }, copy: { repo: WAN_COPY_REPO, commit: copy.commit } };
}

export const MANY_FILES_REPO = 'bench/many-files';

/** A repo of `count` tiny weight shards in 100 folders, for sync-at-scale tests and benchmarks. */
export async function addManyFilesRepo(
  hub: FakeHub,
  count: number,
): Promise<{ repo: string; commit: string }> {
  const files = Array.from({ length: count }, (_, i) => ({
    path: `shards/${String(i % 100).padStart(3, '0')}/part-${String(i).padStart(5, '0')}.safetensors`,
    content: `shard ${i}\n`,
    lfs: true,
  }));
  const { commit } = await hub.addRepo({ id: MANY_FILES_REPO, files });
  return { repo: MANY_FILES_REPO, commit };
}

export const SMALL_FILES_REPO = 'bench/small-files';

/**
 * A repo of `count` small plain-git files (200–1,200 bytes, distinct contents) in 100 folders, like
 * a tokenizer or config-heavy repo: what the official client fetches one request per file.
 */
export async function addSmallFilesRepo(
  hub: FakeHub,
  count: number,
): Promise<{ repo: string; commit: string }> {
  const files = Array.from({ length: count }, (_, i) => {
    const size = 200 + ((i * 7919) % 1001);
    const line = `{"file": ${i}, "pad": "`;
    return {
      path: `configs/${String(i % 100).padStart(3, '0')}/config-${String(i).padStart(5, '0')}.json`,
      content: `${line}${'x'.repeat(Math.max(0, size - line.length - 3))}"}\n`,
      lfs: false,
    };
  });
  const { commit } = await hub.addRepo({ id: SMALL_FILES_REPO, files });
  return { repo: SMALL_FILES_REPO, commit };
}
