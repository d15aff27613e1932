import type { FileType } from '../db/schema.js';

const WEIGHT_EXTENSIONS = new Set([
  'safetensors',
  'bin',
  'pth',
  'pt',
  'gguf',
  'onnx',
  'h5',
  'msgpack',
  'ckpt',
]);
const CONFIG_EXTENSIONS = new Set(['json', 'yaml', 'yml', 'txt', 'md']);

/** Classifies a repo file by name: weights first, then tokenizer files, then config-like text. */
export function classifyFile(filePath: string): FileType {
  const base = (filePath.split('/').pop() ?? filePath).toLowerCase();
  const dot = base.lastIndexOf('.');
  const extension = dot > 0 ? base.slice(dot + 1) : '';
  if (WEIGHT_EXTENSIONS.has(extension)) return 'model';
  if (
    /^tokenizer.*\.json$/.test(base) ||
    extension === 'model' ||
    base.startsWith('vocab.') ||
    base === 'merges.txt' ||
    base === 'special_tokens_map.json'
  ) {
    return 'tokenizer';
  }
  if (CONFIG_EXTENSIONS.has(extension)) return 'config';
  return 'other';
}
