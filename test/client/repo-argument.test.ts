import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseRepoArgument } from '../../src/client/repo-argument.js';

describe('parseRepoArgument', () => {
  it.each([
    ['Wan-AI/Wan2.1-T2V-1.3B', 'Wan-AI/Wan2.1-T2V-1.3B'],
    ['https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B', 'Wan-AI/Wan2.1-T2V-1.3B'],
    ['https://huggingface.co/google/umt5-xxl/tree/main/tokenizer', 'google/umt5-xxl'],
    ['https://huggingface.co/org/name/blob/main/config.json', 'org/name'],
    ['http://hub.internal:8000/models/org/name', 'org/name'],
    ['  org/name  ', 'org/name'],
  ])('takes %s as %s', (input, repoId) => {
    expect(parseRepoArgument(input)).toBe(repoId);
  });

  it.each([
    ['gpt2', /expected a repo id such as .* \(owner\/name\) or its page URL, got "gpt2"/],
    ['a/b/c', /got "a\/b\/c"/],
    ['/name', /got "\/name"/],
    ['https://huggingface.co/', /got "https:\/\/huggingface.co\/"/],
    ['https://huggingface.co/datasets/org/data', /is a dataset; Model Hub mirrors model repos/],
    ['https://huggingface.co/spaces/org/app', /is a Space/],
  ])('refuses %s, saying what it expects', (input, message) => {
    expect(() => parseRepoArgument(input)).toThrow(InvalidArgumentError);
    expect(() => parseRepoArgument(input)).toThrow(message);
  });
});
