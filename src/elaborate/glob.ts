/** stap's probe point wildcards: `*` and `?` within a name, `[...]` classes. */
const cache = new Map<string, RegExp>();

export function globToRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (re) return re;
  let src = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) { src += '\\['; continue; }
      src += '[' + pattern.slice(i + 1, close).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
      i = close;
    } else src += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  re = new RegExp(src + '$', 's');
  cache.set(pattern, re);
  return re;
}

export function hasWildcard(s: string): boolean {
  return /[*?[]/.test(s);
}

export function globMatch(pattern: string, s: string): boolean {
  return hasWildcard(pattern) ? globToRegExp(pattern).test(s) : pattern === s;
}
