/**
 * stap's wildcards, as fnmatch(3) has them: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`, `\\` escapes. One
 * implementation for probe points, preprocessor comparisons, symbol and path globs.
 */

/** True if a name uses glob characters (`*`, `?`, `[`). */
export function hasGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * Compiles a shell glob (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`/`[^x]`, `\` escapes) to an anchored
 * RegExp. With `pathMode`, wildcards do not match `/` (like fnmatch FNM_PATHNAME).
 */
export function globToRegExp(pattern: string, options: { pathMode?: boolean } = {}): RegExp {
  const any = options.pathMode ? '[^/]' : '[\\s\\S]';
  let out = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      out += `${any}*`;
    } else if (c === '?') {
      out += any;
    } else if (c === '\\' && i + 1 < pattern.length) {
      out += escapeRegExp(pattern[++i]!);
    } else if (c === '[') {
      const end = findClassEnd(pattern, i);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      // Escape regex-significant characters inside the class, keeping ranges (a-z) intact.
      const cls = body.replace(/[\\\]^[]/g, (m) => `\\${m}`);
      out += negate ? `[^${cls}${options.pathMode ? '/' : ''}]` : `[${cls}]`;
      i = end;
    } else {
      out += escapeRegExp(c);
    }
  }
  return new RegExp(`${out}$`);
}

function findClassEnd(pattern: string, open: number): number {
  let j = open + 1;
  if (pattern[j] === '!' || pattern[j] === '^') j++;
  if (pattern[j] === ']') j++; // a leading ] is literal
  for (; j < pattern.length; j++) if (pattern[j] === ']') return j;
  return -1;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const cache = new Map<string, RegExp>();

/** Does `s` match `pattern` (a plain name matches only itself)? Compiled patterns are cached. */
export function globMatch(pattern: string, s: string): boolean {
  if (!hasGlob(pattern)) return pattern === s;
  let re = cache.get(pattern);
  if (!re) cache.set(pattern, (re = globToRegExp(pattern)));
  return re.test(s);
}
