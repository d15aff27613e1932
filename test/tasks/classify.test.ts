import { describe, expect, it } from 'vitest';
import { classifyFile } from '../../src/tasks/classify.js';

describe('classifyFile', () => {
  it.each([
    ['diffusion_pytorch_model.safetensors', 'model'],
    ['pytorch_model-00001-of-00002.bin', 'model'],
    ['Wan2.1_VAE.pth', 'model'],
    ['ckpt/model.pt', 'model'],
    ['q4/model.Q4_K_M.GGUF', 'model'],
    ['onnx/model.onnx', 'model'],
    ['tf_model.h5', 'model'],
    ['flax_model.msgpack', 'model'],
    ['sd.ckpt', 'model'],
    ['tokenizer.json', 'tokenizer'],
    ['google/umt5-xxl/tokenizer_config.json', 'tokenizer'],
    ['spiece.model', 'tokenizer'],
    ['sentencepiece.bpe.model', 'tokenizer'],
    ['vocab.txt', 'tokenizer'],
    ['vocab.json', 'tokenizer'],
    ['merges.txt', 'tokenizer'],
    ['special_tokens_map.json', 'tokenizer'],
    ['config.json', 'config'],
    ['model_index.json', 'config'],
    ['scheduler/scheduler_config.yaml', 'config'],
    ['requirements.txt', 'config'],
    ['README.md', 'config'],
    ['.gitattributes', 'other'],
    ['assets/demo.png', 'other'],
    ['LICENSE', 'other'],
  ])('%s → %s', (file, expected) => {
    expect(classifyFile(file)).toBe(expected);
  });
});
