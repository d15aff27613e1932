/**
 * File patterns with huggingface_hub's meaning (`allow_patterns`/`ignore_patterns`, `hf download
 * --include/--exclude`): Python's `fnmatchcase` on the whole repo path, so `*` also matches `/`
 * (`*.json` selects `a/b/tokenizer.json`), `?` one character, `[seq]`/`[!seq]` a set; case
 * sensitive; a pattern ending in `/` means everything below it (`onnx/` is `onnx/*`); backslashes
 * in patterns and paths are read as `/`. Hand-written because no glob library has these rules.
 */
export function pathMatcher(patterns: readonly string[]): (path: string) => boolean {
  const expressions = patterns.map((p) => fnmatchRegExp(withDirectoryWildcard(normalizeSeparators(p))));
  return (path) => {
    const normalized = normalizeSeparators(path);
    return expressions.some((e) => e.test(normalized));
  };
}

/** Python's `fnmatch.translate`, to a RegExp that must match the whole string. */
export function fnmatchRegExp(pattern: string): RegExp {
  let body = '';
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i++] as string;
    if (c === '*') {
      if (!body.endsWith('.*')) body += '.*';
    } else if (c === '?') {
      body += '.';
    } else if (c === '[') {
      const set = readSet(pattern, i);
      if (set === undefined) {
        body += '\\[';
      } else {
        body += set.expression;
        i = set.end + 1;
      }
    } else {
      body += escapeLiteral(c);
    }
  }
  return new RegExp(`^(?:${body})$`, 's');
}

/** The set starting after the `[` at `start - 1`, or undefined when it is never closed (a literal `[`). */
function readSet(pattern: string, start: number): { expression: string; end: number } | undefined {
  let j = start;
  if (pattern[j] === '!') j++;
  if (pattern[j] === ']') j++;
  while (j < pattern.length && pattern[j] !== ']') j++;
  if (j >= pattern.length) return undefined;
  const negated = pattern[start] === '!';
  const members = setMembers(pattern.slice(negated ? start + 1 : start, j));
  if (members === '') return { expression: negated ? '.' : '(?!)', end: j };
  return { expression: `[${negated ? '^' : ''}${members}]`, end: j };
}

/**
 * A set's members as a RegExp class body. As in Python, a range whose ends are reversed (`z-a`) is
 * dropped, and a `-` first or last is literal.
 */
function setMembers(inner: string): string {
  if (!inner.includes('-')) return escapeClassMembers(inner);
  const chunks: string[] = [];
  let from = 0;
  let k = 1;
  for (;;) {
    k = inner.indexOf('-', k);
    if (k < 0) break;
    chunks.push(inner.slice(from, k));
    from = k + 1;
    k += 3;
  }
  const last = inner.slice(from);
  if (last !== '') chunks.push(last);
  else chunks[chunks.length - 1] += '-';
  for (let c = chunks.length - 1; c > 0; c--) {
    const before = chunks[c - 1] as string;
    const after = chunks[c] as string;
    if (before.charCodeAt(before.length - 1) > after.charCodeAt(0)) {
      chunks[c - 1] = before.slice(0, -1) + after.slice(1);
      chunks.splice(c, 1);
    }
  }
  return chunks.map((chunk) => escapeClassMembers(chunk).replaceAll('-', '\\-')).join('-');
}

function escapeClassMembers(members: string): string {
  return members.replace(/[\\\]^[]/g, (ch) => `\\${ch}`);
}

function escapeLiteral(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function normalizeSeparators(value: string): string {
  return value.replaceAll('\\', '/');
}

function withDirectoryWildcard(pattern: string): string {
  return pattern.endsWith('/') ? `${pattern}*` : pattern;
}
